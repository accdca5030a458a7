//! TLS peers for the tests, in tokio-rustls: certificates made with rcgen, the STARTTLS
//! exchange from either side (lines read byte by byte, so nothing past a line is consumed
//! before a handshake), and a two-way exchange of a payload in random chunks.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::StdRng;
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The server's offer.
pub const OFFER: &[u8] = b"{\"class\":\"starttls\"}\n";
/// A client's acceptance.
pub const ACCEPT: &[u8] = b"{\"class\": \"starttls\", \"status\": true}\n";
/// A client's refusal.
pub const DECLINE: &[u8] = b"{\"class\":\"starttls\",\"status\":false}\n";
/// The server's confirmation: TLS follows.
pub const CONFIRM: &[u8] = b"{\"class\":\"starttls\",\"starttls\":true}\n";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate and its key.
pub struct Identity {
    pub cert: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

impl Identity {
    /// A certificate for 127.0.0.1 and localhost.
    pub fn new() -> Identity {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let made = rcgen::generate_simple_self_signed(names).unwrap();
        Identity {
            cert: made.cert.der().clone(),
            cert_pem: made.cert.pem(),
            key_pem: made.key_pair.serialize_pem(),
        }
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        use rustls_pki_types::pem::PemObject;
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }

    /// Writes `STEM.crt` and `STEM.key` into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join(format!("{stem}.crt")), dir.join(format!("{stem}.key")));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }

    /// A TLS server showing this certificate.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], self.key())
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    /// A TLS client that trusts only this certificate.
    pub fn trusted_by(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }
}

/// A TLS client that accepts any certificate (the test then checks its fingerprint).
pub fn trusting_anything() -> TlsConnector {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ctiproxy::tls::connector::AnyCertificate(
            provider(),
        )))
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// The name the test peers connect with.
pub fn localhost() -> ServerName<'static> {
    ServerName::try_from("127.0.0.1").unwrap()
}

/// A certificate's SHA-256 fingerprint as the proxy logs it.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Writes in random chunks (see `support::chunk_size`).
pub async fn write_chunked<W: AsyncWrite + Unpin>(to: &mut W, data: &[u8], rng: &mut StdRng) {
    let mut at = 0;
    while at < data.len() {
        let size = crate::support::chunk_size(rng, data.len() - at);
        to.write_all(&data[at..at + size]).await.unwrap();
        to.flush().await.unwrap();
        at += size;
    }
}

/// Reads one line, `\n` included, one byte at a time: the bytes after it stay unread.
pub async fn read_line<R: AsyncRead + Unpin>(from: &mut R) -> Vec<u8> {
    let mut line = Vec::new();
    while line.last() != Some(&b'\n') {
        match from.read_u8().await {
            Ok(byte) => line.push(byte),
            Err(_) => break,
        }
    }
    line
}

/// Sends `payload` in random chunks then shuts down, while reading until the peer does;
/// returns what was read.
pub async fn exchange<S>(stream: S, payload: &[u8], rng: &mut StdRng) -> Vec<u8>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut read, mut write) = tokio::io::split(stream);
    let send = async {
        write_chunked(&mut write, payload, rng).await;
        write.shutdown().await.unwrap();
    };
    let receive = async {
        let mut received = Vec::new();
        read.read_to_end(&mut received).await.unwrap();
        received
    };
    tokio::join!(send, receive).1
}
