//! The PEM files of the configuration: certificate chains, private keys, CA bundles. Read whole
//! and parsed here so that every problem names its key and file.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use super::TlsSetupError;

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsSetupError> {
    std::fs::read(path).map_err(|source| TlsSetupError::Read { key, path: path.into(), source })
}

fn invalid(key: &'static str, path: &Path, why: impl Into<String>) -> TlsSetupError {
    TlsSetupError::Invalid { key, path: path.into(), why: why.into() }
}

/// Every certificate of a PEM file, in order; at least one.
pub fn certificates(
    key: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let pem = read(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(key, path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            key,
            path,
            "no certificate in it (no -----BEGIN CERTIFICATE----- block)",
        ));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(
    key: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, TlsSetupError> {
    let pem = read(key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            invalid(key, path, "no private key in it (no -----BEGIN ... PRIVATE KEY----- block)")
        }
        e => invalid(key, path, format!("not a PEM private key file: {e}")),
    })
}

/// The SHA-256 fingerprint of a certificate, as browsers and `openssl x509 -fingerprint` show
/// it: `AB:CD:...`.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    Sha256::digest(cert.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}
