//! The one HTTPS client every SDK client shares (`aws::shared_https_client`, which sets TLS up
//! on the first request instead of at client construction) still verifies the server: a TLS
//! server on 127.0.0.1 whose self-signed certificate no trust store holds
//! (`tests/support/tls_server.py`) is refused, and nothing reaches it over plain HTTP either.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use streamops_shared::aws;
use streamops_test_support::repo_root;

struct Server(std::process::Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn untrusted_tls_server() -> Server {
    let venv = std::env::var("STREAMOPS_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| repo_root().join(".venv"));
    let mut child = Command::new(venv.join("bin/python"))
        .arg(repo_root().join("tests/support/tls_server.py"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the TLS server (make setup)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    Server(child, port)
}

#[tokio::test]
async fn a_server_certificate_no_trust_store_holds_is_refused() {
    let server = untrusted_tls_server();
    let env = |name: &str| {
        match name {
            "AWS_REGION" => Some("us-east-1"),
            "AWS_ACCESS_KEY_ID" => Some("AKIDEXAMPLE"),
            "AWS_SECRET_ACCESS_KEY" => Some("secret"),
            _ => None,
        }
        .map(str::to_string)
    };
    let sdk = aws::load_sdk_config_from(&env).await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(format!("https://127.0.0.1:{}", server.1))
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let err = client.list_tables().send().await.unwrap_err();
    let text = format!(
        "{:?}",
        aws_smithy_types::error::display::DisplayErrorContext(&err)
    );
    assert!(
        text.contains("UnknownIssuer") || text.contains("certificate"),
        "the untrusted certificate must be the reason: {text}"
    );
    // A second client of the same configuration shares the HTTP client and refuses it too.
    let again = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(format!("https://127.0.0.1:{}", server.1))
            .build(),
    );
    assert!(again.list_tables().send().await.is_err());
}
