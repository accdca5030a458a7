//! The server leg: the proxy is the TLS client of the CTI server. By default the server's
//! certificate is not verified (the Wazo client does not verify it either, and a CTI server's
//! certificate is usually self-signed); with `tls_server_ca` it must chain to one of those CAs
//! and name the server's host.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;

use super::{material, provider, TlsSetupError};

/// How the proxy reaches the server in TLS.
pub struct ServerFacing {
    /// Connects to the server.
    pub connector: TlsConnector,
    /// Whether the server's certificate is verified.
    pub verified: bool,
}

impl ServerFacing {
    /// Accepts whatever certificate the server shows (the handshake's signatures are still
    /// checked, so the TLS session is sound; only the server's identity is not).
    pub fn unverified() -> ServerFacing {
        let provider = provider();
        let config = builder(provider.clone())
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        ServerFacing { connector: TlsConnector::from(Arc::new(config)), verified: false }
    }

    /// Verifies the server's certificate against the CAs of a PEM file.
    pub fn verified(ca: &Path) -> Result<ServerFacing, TlsSetupError> {
        let mut roots = RootCertStore::empty();
        let (added, _) =
            roots.add_parsable_certificates(material::certificates("tls_server_ca", ca)?);
        if added == 0 {
            return Err(TlsSetupError::Invalid {
                key: "tls_server_ca",
                path: ca.into(),
                why: "none of its certificates is a usable CA certificate".into(),
            });
        }
        let config = builder(provider()).with_root_certificates(roots).with_no_client_auth();
        Ok(ServerFacing { connector: TlsConnector::from(Arc::new(config)), verified: true })
    }
}

fn builder(
    provider: Arc<CryptoProvider>,
) -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports the default TLS versions")
}

/// The name the server's certificate must have, from the normalised `host:port`: an IP
/// address, or a DNS name.
pub fn server_name(server: &str) -> Result<ServerName<'static>, TlsSetupError> {
    if let Ok(addr) = server.parse::<SocketAddr>() {
        return Ok(ServerName::IpAddress(addr.ip().into()));
    }
    let host = server.rsplit_once(':').map_or(server, |(host, _)| host);
    ServerName::try_from(host.to_owned()).map_err(|e| {
        TlsSetupError::ServerName(format!("{host:?} is not usable as a TLS server name: {e}"))
    })
}

/// The verifier of `tls_server_ca`-less setups: any certificate, but a valid handshake. Public
/// for test peers that must accept the proxy's self-signed certificate the same way.
#[derive(Debug)]
pub struct AnyCertificate(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
