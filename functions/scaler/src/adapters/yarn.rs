//! The YARN ResourceManager's REST API over HTTP: its nodes and their containers.

use crate::ports::{YarnApi, YarnNode};

pub struct YarnRest;

impl YarnApi for YarnRest {
    async fn nodes(&self, rm_url: &str) -> Result<Vec<YarnNode>, String> {
        let nodes = streamops_shared::http::get_json(rm_url, "/ws/v1/cluster/nodes").await?;
        Ok(nodes["nodes"]["node"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| {
                Some(YarnNode {
                    host: n["nodeHostName"].as_str()?.to_string(),
                    state: n["state"].as_str().unwrap_or_default().to_string(),
                    containers: n["numContainers"].as_u64().unwrap_or(0),
                })
            })
            .collect())
    }
}
