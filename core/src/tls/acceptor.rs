//! The client leg: the proxy is the TLS server the CTI client talks to, with the configured
//! certificate or a self-signed one made at start.

use std::path::Path;
use std::sync::Arc;

use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use super::{material, provider, TlsSetupError};

/// Names the proxy's self-signed certificate is made for. The Wazo client does not check the
/// name; these only make the certificate readable.
const SELF_SIGNED_NAMES: [&str; 2] = ["ctiproxy", "localhost"];

/// What the client is shown.
pub struct ClientFacing {
    /// Accepts clients.
    pub acceptor: TlsAcceptor,
    /// SHA-256 of the certificate shown to clients.
    pub fingerprint: String,
    /// Where the certificate came from: a file, or none (self-signed at start).
    pub self_signed: bool,
}

impl ClientFacing {
    /// From the configured certificate chain and key; a key that does not match the
    /// certificate is an error on `tls_key`.
    pub fn from_files(cert: &Path, key: &Path) -> Result<ClientFacing, TlsSetupError> {
        let chain = material::certificates("tls_cert", cert)?;
        let private = material::private_key("tls_key", key)?;
        let why = |e: rustls::Error| e.to_string();
        let signing = provider().key_provider.load_private_key(private).map_err(|e| {
            TlsSetupError::Invalid { key: "tls_key", path: key.into(), why: why(e) }
        })?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsSetupError::Invalid {
                key: "tls_key",
                path: key.into(),
                why: format!("not the private key of the certificate in {}", cert.display()),
            },
            e => TlsSetupError::Invalid { key: "tls_cert", path: cert.into(), why: why(e) },
        })?;
        Ok(ClientFacing::new(certified, false))
    }

    /// A fresh self-signed certificate (ECDSA P-256), valid for [`SELF_SIGNED_NAMES`].
    pub fn self_signed() -> Result<ClientFacing, TlsSetupError> {
        let names = SELF_SIGNED_NAMES.map(str::to_owned).to_vec();
        let made = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TlsSetupError::Generate(e.to_string()))?;
        let cert = CertificateDer::from(made.cert.der().to_vec());
        let key = PrivateKeyDer::try_from(made.key_pair.serialize_der())
            .map_err(|e| TlsSetupError::Generate(e.to_string()))?;
        let signing = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsSetupError::Generate(e.to_string()))?;
        Ok(ClientFacing::new(CertifiedKey::new(vec![cert], signing), true))
    }

    fn new(certified: CertifiedKey, self_signed: bool) -> ClientFacing {
        let fingerprint = certified.cert.first().map(material::fingerprint).unwrap_or_default();
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
        // Sessions are not resumed through the proxy; a ticket would only be bytes the client
        // never uses.
        config.send_tls13_tickets = 0;
        ClientFacing { acceptor: TlsAcceptor::from(Arc::new(config)), fingerprint, self_signed }
    }
}
