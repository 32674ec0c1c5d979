//! A checkpoints pipeline checked against the book the function's configuration names, before
//! anything is sent: unknown is refused (exit 5) with the book's pipelines, known is sent, a book
//! that cannot be read is said and the function checks; register-job and the job-id forms name
//! no pipeline to check.

use serde_json::json;

use crate::tests_follow::{Fake, execute};

const ENV: &[(&str, &str)] = &[
    ("CHECKPOINTS_TABLE", "streamops-checkpoints"),
    ("CHECKPOINTS_BUCKET", "streamops-checkpoints-bucket"),
];

fn book(pipelines: Result<&[&str], &str>, answers: Vec<serde_json::Value>) -> Fake {
    let mut fake = Fake::new(Ok(ENV), answers);
    fake.book = pipelines
        .map(|p| p.iter().map(|s| s.to_string()).collect())
        .map_err(str::to_string);
    fake
}

#[test]
fn an_unknown_pipeline_is_refused_from_the_book_and_nothing_is_sent() {
    for words in [
        "checkpoints latest --pipeline clickstream-sesionizer",
        "checkpoints list --pipeline clickstream-sesionizer",
        "checkpoints prune --pipeline clickstream-sesionizer --apply",
    ] {
        let fake = book(Ok(&["clickstream-sessionizer", "orders"]), vec![]);
        let e = execute(words, &fake).0.unwrap_err();
        assert_eq!(
            (e.exit_code(), e.to_string()),
            (5, "unknown pipeline \"clickstream-sesionizer\"; known: clickstream-sessionizer, orders (from the checkpoints function's book (table streamops-checkpoints)); nothing was sent".into()),
            "{words}"
        );
        assert!(fake.sent.borrow().is_empty(), "{words}");
        assert_eq!(
            *fake.book_reads.borrow(),
            [(
                "streamops-checkpoints".to_string(),
                "clickstream-sesionizer".to_string()
            )]
        );
    }
    let empty = book(Ok(&[]), vec![]);
    let e = execute("checkpoints latest --pipeline p", &empty)
        .0
        .unwrap_err();
    assert!(e.to_string().contains("known: none (from"), "{e}");
}

#[test]
fn a_known_pipeline_is_sent_and_commands_naming_none_do_not_read_the_book() {
    let fake = book(
        Ok(&["orders"]),
        vec![json!({"pipeline": "orders", "latest": null})],
    );
    let (result, said) = execute("checkpoints latest --pipeline orders", &fake);
    assert!(result.is_ok() && said.is_empty(), "{result:?} {said:?}");
    assert_eq!(fake.commands(), ["latest"]);
    for words in [
        "checkpoints register-job --pipeline new-one --job-id 0123456789abcdef0123456789abcdef",
        "checkpoints latest --job-id 0123456789abcdef0123456789abcdef",
    ] {
        let fake = book(Ok(&[]), vec![json!({})]);
        let (result, said) = execute(words, &fake);
        assert!(
            result.is_ok() && said.is_empty(),
            "{words}: {result:?} {said:?}"
        );
        assert!(fake.book_reads.borrow().is_empty(), "{words}");
        assert_eq!(fake.sent.borrow().len(), 1, "{words}");
    }
}

#[test]
fn a_book_that_cannot_be_read_is_said_and_the_function_checks() {
    let fake = book(
        Err("Query on streamops-checkpoints: User is not authorized to perform: dynamodb:Query"),
        vec![json!({"pipeline": "orders"})],
    );
    let (result, said) = execute("checkpoints latest --pipeline orders", &fake);
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        said,
        [
            "streamops: warning: pipeline \"orders\" not checked before sending: could not read the checkpoints function's configuration (its book, Query on streamops-checkpoints: User is not authorized to perform: dynamodb:Query); the function checks it"
        ]
    );
    assert_eq!(fake.commands(), ["latest"]);
}
