//! Test harness shared by the functions' integration tests: a private moto server on
//! 127.0.0.1 per test, and SDK config pointed at it. A test never skips silently: if moto
//! cannot be started it panics with what to run.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub mod fault_proxy;
pub mod faults;
#[cfg(feature = "proptest")]
pub mod generate;

/// The repository root: the nearest directory holding `template.yaml` above the package under
/// test. Read from `CARGO_MANIFEST_DIR` at run time (cargo sets it for every test it runs), not
/// baked in at compile time: the target directory is shared between clones (see the Makefile),
/// and cargo reuses an unchanged crate's artifacts across them, compile-time paths included.
pub fn repo_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .expect("CARGO_MANIFEST_DIR is set: run the tests through cargo");
    start
        .ancestors()
        .find(|dir| dir.join("template.yaml").is_file())
        .unwrap_or_else(|| panic!("no template.yaml above {}", start.display()))
        .to_path_buf()
}

/// A moto server process, killed when dropped.
pub struct MotoServer {
    child: Child,
    pub port: u16,
}

impl MotoServer {
    /// Starts moto from the project's virtualenv (`STREAMOPS_VENV`, default `.venv`) on a free
    /// loopback port and waits until it answers. It runs as `scripts/stack/moto_ext.py`: moto
    /// plus the EMR actions moto lacks (instance fleets, managed scaling), an emulator extension.
    pub fn start() -> Self {
        let venv = std::env::var("STREAMOPS_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|_| repo_root().join(".venv"));
        let exe = venv.join("bin/python");
        assert!(
            venv.join("bin/moto_server").exists(),
            "moto_server not found at {}: run `make setup` (or `scripts/bootstrap.sh`) first",
            exe.display()
        );
        for _attempt in 0..3 {
            let port = free_port();
            let child = Command::new(&exe)
                .args(["-m", "scripts.stack.moto_ext"])
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .current_dir(repo_root())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("could not start {}: {e}", exe.display()));
            let mut server = MotoServer { child, port };
            if server.wait_ready(Duration::from_secs(30)) {
                return server;
            }
            let _ = server.child.kill();
        }
        panic!("moto_server did not become ready on 127.0.0.1 after 3 attempts");
    }

    fn wait_ready(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            // The port answering is not enough: another process's server may hold it (our
            // child then fails to bind and exits). Ready means our child owns the listener.
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return listener_owned_by(self.child.id(), self.port).unwrap_or(true);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SDK config for this server: fixed test credentials, us-east-1, every service routed here.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint()).await
    }
}

/// Whether process `pid` holds the socket listening on loopback `port`, from `/proc` (the
/// listener's inode in `/proc/net/tcp`, then the process's descriptors). `None` where `/proc`
/// cannot say (not Linux).
fn listener_owned_by(pid: u32, port: u16) -> Option<bool> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let wanted = format!(":{port:04X}");
    let inode = table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let listening = fields.get(3) == Some(&"0A");
        (listening && fields.get(1)?.ends_with(&wanted)).then(|| fields.get(9).copied())?
    })?;
    let socket = format!("socket:[{inode}]");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| target.as_os_str() == socket.as_str())
    }))
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SDK config for any local endpoint (moto, or a fault-injecting proxy in front of it).
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "streamops-tests",
        ))
        .load()
        .await
}

/// A port that was free a moment ago on 127.0.0.1, and never handed out before in this process.
///
/// The kernel may give the same ephemeral port to two `bind(0)` calls in a row once the first
/// socket is closed, so two tests of one binary starting moto at once could both get it: the
/// second server then fails to bind, but its readiness check connects to the first one's, and
/// the two tests share (and then lose) one moto. Remembering what was handed out rules that out.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind 127.0.0.1:0")
            .local_addr()
            .unwrap()
            .port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// Reads a JSON fixture from `events/`.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = repo_root().join("events").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("fixture {} is not JSON: {e}", path.display()))
}

/// Creates an on-demand DynamoDB table keyed like the suite's tables: string partition key `pk`
/// and, when given, a string sort key.
pub async fn create_table(sdk: &SdkConfig, name: &str, sort_key: Option<&str>) {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("name and type are set")
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("name and type are set")
    };
    let mut request = aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .key_schema(key("pk", KeyType::Hash));
    if let Some(sk) = sort_key {
        request = request
            .attribute_definitions(attr(sk))
            .key_schema(key(sk, KeyType::Range));
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("create table {name}: {e:?}"));
}

/// Creates an S3 bucket on moto (path-style addressing: moto serves every bucket on one host).
pub async fn create_bucket(sdk: &SdkConfig, name: &str) {
    let conf = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
        .create_bucket()
        .bucket(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("create bucket {name}: {e:?}"));
}

/// Every message body waiting in an SQS queue, in the order received: receives (10 at a time,
/// as SQS allows) and deletes each message, so a later call sees only what arrived since, until
/// an answer comes back empty; at most 20 rounds, so a queue that keeps filling cannot hang a
/// test.
pub async fn drain_queue(sdk: &SdkConfig, queue_url: &str) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut bodies = Vec::new();
    for _ in 0..20 {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap_or_else(|e| panic!("receive from {queue_url}: {e:?}"));
        if got.messages().is_empty() {
            break;
        }
        for m in got.messages() {
            bodies.extend(m.body().map(str::to_string));
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("delete from {queue_url}: {e:?}"));
            }
        }
    }
    bodies
}

/// The item identifiers a Lambda partial-batch answer (`batchItemFailures`) reports, in order;
/// panics naming the answer when it is not one.
pub fn batch_item_failures(answer: &serde_json::Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("not a partial-batch answer: {answer}"))
        .iter()
        .map(|f| {
            f["itemIdentifier"]
                .as_str()
                .unwrap_or_else(|| panic!("a failure without an identifier: {answer}"))
                .to_string()
        })
        .collect()
}

/// Every `events/<function>/*.json` file with its parsed contents, sorted by name; panics naming
/// a file that is not JSON. The fixture tests of each function check these are its valid inputs.
pub fn event_files(function: &str) -> Vec<(PathBuf, serde_json::Value)> {
    let dir = repo_root().join("events").join(function);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            (p, value)
        })
        .collect()
}

#[cfg(test)]
mod port_tests {
    /// Threads asking at once never get the same port (the kernel alone may repeat one).
    #[test]
    fn no_port_is_handed_out_twice() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| (0..200).map(|_| super::free_port()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u16> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
    }

    /// A listener is ours only if this process holds it: a port another process serves is not
    /// taken for our server being ready.
    #[test]
    fn a_listener_is_told_apart_by_its_owner() {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(
            super::listener_owned_by(std::process::id(), port),
            Some(true)
        );
        let other = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        assert_eq!(super::listener_owned_by(other.id(), port), Some(false));
        let mut other = other;
        let _ = other.kill();
        let _ = other.wait();
    }
}
