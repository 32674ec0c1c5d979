//! The book's table on a moto server, for the adapters' contract tests.

use aws_config::SdkConfig;

/// The book as the template makes it: `pk`/`sk` and the sparse pipelines index.
pub async fn create_book(sdk: &SdkConfig, table: &str) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    use streamops_shared::book_keys::{PIPELINES_INDEX, REGISTRY};
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(PIPELINES_INDEX)
        .key_schema(key(REGISTRY, KeyType::Hash))
        .key_schema(key("pk", KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .unwrap();
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr(REGISTRY))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(index)
        .send()
        .await
        .unwrap();
}
