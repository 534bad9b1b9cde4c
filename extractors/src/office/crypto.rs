//! OOXML packages encrypted with Excel's built-in default password.
//!
//! A workbook that is only *write*-protected is still encrypted (ECMA-376 Standard or Agile
//! encryption, in an OLE container with `EncryptionInfo` and `EncryptedPackage` streams),
//! with the well-known password "VelvetSweatshop"; Excel opens it without asking, and so do
//! we. Anything else stays an `encrypted` refusal.
//!
//! The decryption itself is the `office-crypto` crate. Its OLE reader and its key
//! derivation trust the file, so it never sees the original: the two streams are read with
//! `cfb` (which bounds what it reads), the Agile spin count is checked against a ceiling
//! (a forged count of 4 billion would hash for hours), and a clean compound file holding
//! just those two streams is rebuilt for it.

use std::io::Cursor;

use crate::{ErrorKind, ExtractError, Limits};

/// The password Excel uses when a file is protected for writing only.
pub(crate) const DEFAULT_PASSWORD: &str = "VelvetSweatshop";

/// Office writes 100,000; anything far above is a forged header.
const MAX_SPIN_COUNT: u64 = 1_000_000;

/// `EncryptionInfo` is a small header (an XML descriptor for Agile encryption).
const MAX_INFO_BYTES: u64 = 64 * 1024;

fn refused(message: impl Into<String>) -> ExtractError {
    ExtractError::new(ErrorKind::Encrypted, message)
}

fn read_stream(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    name: &str,
    max: u64,
) -> Result<Vec<u8>, ExtractError> {
    crate::office::doc::read_stream(ole, name, max)
        .map_err(|e| refused(format!("encrypted document: {}", e.message)))
}

/// The largest `spinCount="N"` in an Agile descriptor (0 when there is none).
fn max_spin_count(info: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(info);
    text.match_indices("spinCount=\"")
        .map(|(at, key)| {
            let digits: String = text[at + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            // More digits than a u64 holds is as forged as a huge count.
            digits.parse::<u64>().unwrap_or(u64::MAX)
        })
        .max()
        .unwrap_or(0)
}

/// Decrypts the package with the default password; an `encrypted` error when that is not
/// its password (or the encryption header is unusable).
pub(crate) fn decrypt_default(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    limits: &Limits,
) -> Result<Vec<u8>, ExtractError> {
    let info = read_stream(ole, "/EncryptionInfo", MAX_INFO_BYTES)?;
    let package = read_stream(ole, "/EncryptedPackage", limits.max_input_bytes as u64)?;
    let spins = max_spin_count(&info);
    if spins > MAX_SPIN_COUNT {
        return Err(refused(format!(
            "the document is protected with a password (its key derivation asks for {spins} \
             hash rounds, more than the {MAX_SPIN_COUNT} we try)"
        )));
    }
    let clean =
        rebuild(&info, &package).map_err(|e| refused(format!("encrypted document: {e}")))?;
    let decrypted =
        std::panic::catch_unwind(|| office_crypto::decrypt_from_bytes(clean, DEFAULT_PASSWORD));
    match decrypted {
        Ok(Ok(plain)) if plain.starts_with(b"PK\x03\x04") => Ok(plain),
        // A wrong password decrypts to noise rather than failing.
        Ok(Ok(_)) | Ok(Err(_)) => Err(refused("the document is protected with a password")),
        Err(_) => Err(refused(
            "the document is protected with a password (its encryption header is malformed)",
        )),
    }
}

/// A compound file holding only the two streams the decryptor reads.
fn rebuild(info: &[u8], package: &[u8]) -> std::io::Result<Vec<u8>> {
    super::compound_file(&[("/EncryptionInfo", info), ("/EncryptedPackage", package)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_counts_are_read_and_forged_ones_saturate() {
        assert_eq!(max_spin_count(b"<keyData saltSize=\"16\"/>"), 0);
        assert_eq!(
            max_spin_count(b"<p:encryptedKey spinCount=\"100000\" a=\"1\"/>"),
            100_000
        );
        assert_eq!(
            max_spin_count(b"spinCount=\"10\" spinCount=\"99999999999999999999999\""),
            u64::MAX
        );
    }

    #[test]
    fn a_package_that_is_not_encrypted_with_the_default_password_is_refused() {
        // A Standard-encryption header with garbage key material: decryption "succeeds" to
        // noise or fails; either way the answer is a typed `encrypted` refusal, not a panic.
        let mut info = vec![3, 0, 2, 0, 0x24, 0, 0, 0];
        info.extend_from_slice(&[0u8; 200]);
        let clean = rebuild(&info, &[0u8; 64]).expect("rebuild");
        let ole_bytes = clean.clone();
        let mut ole = cfb::CompoundFile::open(Cursor::new(ole_bytes.as_slice())).expect("ole");
        let err = decrypt_default(&mut ole, &Limits::default()).expect_err("refused");
        assert_eq!(err.kind, ErrorKind::Encrypted, "{err:?}");
    }
}
