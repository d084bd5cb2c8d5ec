//! HTTPS for the simulator: a certificate authority and a server certificate made when the
//! simulator starts, and the rustls server configuration that presents it.
//!
//! [`TlsCert`] picks the certificate: a good one, or one of the ways a real deployment goes
//! wrong (another CA, expired, another name). Keys are fresh ECDSA P-256 pairs for every
//! simulator, so nothing secret or long-lived is checked in. The CA's certificate is handed
//! out as PEM, as `--ca-file` reads it.

use std::io;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use time::macros::datetime;

/// The names a good certificate is issued for; the simulator's HTTPS URL uses the first. The
/// `sim.test` names are reached through a proxy that maps them to the simulator.
const NAMES: [&str; 4] = ["localhost", "127.0.0.1", "api.sim.test", "login.sim.test"];
/// The only name of [`TlsCert::WrongName`].
const WRONG_NAME: &str = "wrong-name.invalid";

/// Which certificate an HTTPS simulator presents. Every one but [`TlsCert::OtherCa`] is issued
/// by the simulator's CA, whose certificate [`crate::Sim::ca_pem`] returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsCert {
    /// For `localhost`, `127.0.0.1` and the `sim.test` names, valid now: trusted with the
    /// simulator's CA.
    Valid,
    /// For the right names, issued by another CA, whose certificate is never handed out.
    OtherCa,
    /// For the right names, valid only during 2020.
    Expired,
    /// For `wrong-name.invalid` only.
    WrongName,
}

/// What a simulator serving HTTPS needs: the server configuration and the CA's PEM.
pub(crate) struct Tls {
    pub config: Arc<ServerConfig>,
    pub ca_pem: String,
}

impl Tls {
    pub fn new(cert: TlsCert) -> io::Result<Tls> {
        let (ca_params, ca_key) = new_ca("genesys-sim test CA")?;
        let ca_der = ca_params.self_signed(&ca_key).map_err(io::Error::other)?;
        let ca_pem = pem("CERTIFICATE", ca_der.der());
        let issuer = Issuer::new(ca_params, ca_key);
        let names: &[&str] = match cert {
            TlsCert::WrongName => &[WRONG_NAME],
            _ => &NAMES,
        };
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .map_err(io::Error::other)?;
        params.distinguished_name.push(DnType::CommonName, names[0]);
        if cert == TlsCert::Expired {
            params.not_before = datetime!(2020-01-01 00:00 UTC);
            params.not_after = datetime!(2021-01-01 00:00 UTC);
        }
        let key = KeyPair::generate().map_err(io::Error::other)?;
        let leaf = match cert {
            TlsCert::OtherCa => {
                let (other_params, other_key) = new_ca("another test CA")?;
                params.signed_by(&key, &Issuer::new(other_params, other_key))
            }
            _ => params.signed_by(&key, &issuer),
        }
        .map_err(io::Error::other)?;
        let chain = vec![CertificateDer::from(leaf.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(io::Error::other)?;
        Ok(Tls {
            config: Arc::new(config),
            ca_pem,
        })
    }
}

/// The parameters and key of a new CA named `name`.
fn new_ca(name: &str) -> io::Result<(CertificateParams, KeyPair)> {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let key = KeyPair::generate().map_err(io::Error::other)?;
    Ok((params, key))
}

/// `der` as a PEM block labelled `label`.
fn pem(label: &str, der: &[u8]) -> String {
    let encoded = base64(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_pads_like_the_rfc_vectors() {
        let check = |plain: &str, encoded: &str| assert_eq!(base64(plain.as_bytes()), encoded);
        check("", "");
        check("f", "Zg==");
        check("fo", "Zm8=");
        check("foo", "Zm9v");
        check("foob", "Zm9vYg==");
        check("fooba", "Zm9vYmE=");
        check("foobar", "Zm9vYmFy");
    }

    #[test]
    fn every_certificate_is_made_and_the_ca_is_pem() {
        for cert in [
            TlsCert::Valid,
            TlsCert::OtherCa,
            TlsCert::Expired,
            TlsCert::WrongName,
        ] {
            let tls = Tls::new(cert).unwrap();
            assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
            assert!(tls.ca_pem.ends_with("-----END CERTIFICATE-----\n"));
            assert!(tls.ca_pem.lines().all(|l| l.len() <= 64));
        }
    }
}
