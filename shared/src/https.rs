//! The one HTTPS client every SDK client of a process shares (see [`crate::aws`] for why), and
//! where its trust anchors come from.

use std::sync::LazyLock;

use aws_smithy_http_client::ConnectorBuilder;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine;

/// Where the client's trust anchors come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustRoots {
    /// Mozilla's root certificates as the `webpki-root-certs` crate ships them, compiled in:
    /// nothing to read from disk. The default.
    Bundled,
    /// The operating system's store (`rustls-native-certs`: the bundle and the certificate
    /// directory), for a private CA or a TLS-inspecting proxy.
    Native,
}

impl TrustRoots {
    /// `STREAMOPS_TLS_ROOTS`: `native`, or `bundled` (also when unset). Anything else is
    /// logged and read as `bundled`: the functions must start, and Mozilla's roots verify AWS.
    pub fn from_setting(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("native") => TrustRoots::Native,
            None | Some("") => TrustRoots::Bundled,
            Some(v) if v.eq_ignore_ascii_case("bundled") => TrustRoots::Bundled,
            Some(other) => {
                tracing::warn!(
                    value = other,
                    "STREAMOPS_TLS_ROOTS is bundled or native; using bundled"
                );
                TrustRoots::Bundled
            }
        }
    }

    fn tls_context(self) -> TlsContext {
        let store = match self {
            TrustRoots::Native => TrustStore::default(),
            TrustRoots::Bundled => TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(BUNDLED_PEM.as_bytes()),
        };
        // Building a context from a trust store cannot fail (the builder only stores it).
        TlsContext::builder()
            .with_trust_store(store)
            .build()
            .unwrap_or_default()
    }
}

/// The bundled roots as one PEM document (what the SDK's trust store takes), made once.
static BUNDLED_PEM: LazyLock<String> = LazyLock::new(|| {
    let engine = base64::engine::general_purpose::STANDARD;
    let mut pem = String::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() * 2048);
    for der in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let text = engine.encode(der.as_ref());
        for line in text.as_bytes().chunks(64) {
            // Base64 output is ASCII: each chunk is a valid str.
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    pem
});

/// The SDK's default HTTPS client (hyper 1, rustls with aws-lc, the proxy settings from the
/// environment, as `default-https-client` builds it) with the trust anchors of `roots`, for
/// every SDK client built from one `SdkConfig`: connectors are cached per connector settings,
/// so all clients with our timeouts share one connection pool and one TLS set-up, made on the
/// first request.
pub fn shared_https_client(roots: TrustRoots) -> SharedHttpClient {
    let context = roots.tls_context();
    let inner = aws_smithy_http_client::Builder::new().build_with_connector_fn(
        move |settings, components| {
            let mut connector = ConnectorBuilder::default()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(context.clone());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector.set_proxy_config(Some(ProxyConfig::from_env()));
            connector.build()
        },
    );
    SharedHttpClient::new(SetUpOnFirstUse(inner))
}

/// The wrapped client without the check at client construction, which builds and throws
/// away a connector (a whole trust store parsed) for every SDK client constructed.
#[derive(Debug)]
struct SetUpOnFirstUse(SharedHttpClient);

impl HttpClient for SetUpOnFirstUse {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_names_the_roots() {
        assert_eq!(TrustRoots::from_setting(None), TrustRoots::Bundled);
        assert_eq!(
            TrustRoots::from_setting(Some(" Native ")),
            TrustRoots::Native
        );
        assert_eq!(
            TrustRoots::from_setting(Some("bundled")),
            TrustRoots::Bundled
        );
        assert_eq!(TrustRoots::from_setting(Some("os")), TrustRoots::Bundled);
    }

    /// Every bundled root comes back out of the PEM document as the same DER.
    #[test]
    fn the_bundled_pem_holds_every_root() {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        let back: Vec<CertificateDer> = CertificateDer::pem_slice_iter(BUNDLED_PEM.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(back.len() > 100);
        assert!(
            back.iter()
                .zip(webpki_root_certs::TLS_SERVER_ROOT_CERTS)
                .all(|(a, b)| a.as_ref() == b.as_ref())
        );
    }
}
