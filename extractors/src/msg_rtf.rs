//! Compressed RTF (MS-OXRTFCP), the form in which Outlook stores a message's RTF body: a
//! 16-byte header (sizes, `LZFu` or `MELA`, a CRC) and LZ77 runs over a 4 KiB ring buffer
//! that starts out holding a fixed RTF preamble. Hand-written (ADR 0029): the one crate,
//! `compressed-rtf`, panics on inputs shorter than its header or with a raw size past the
//! data, reserves whatever size the header claims, and refuses a stream whose CRC is off
//! instead of reading what is there.

/// The dictionary's initial contents (MS-OXRTFCP 2.1.2.1).
const PREBUF: &[u8] = b"{\\rtf1\\ansi\\mac\\deff0\\deftab720{\\fonttbl;}{\\f0\\fnil \\froman \\fswiss \\fmodern \\fscript \\fdecor MS Sans SerifSymbolArialTimes New RomanCourier{\\colortbl\\red0\\green0\\blue0\r\n\\par \\pard\\plain\\f0\\fs20\\b\\i\\u\\tab\\tx";

const COMPRESSED: &[u8; 4] = b"LZFu";
const UNCOMPRESSED: &[u8; 4] = b"MELA";

/// The RTF in a compressed-RTF stream, at most `max` bytes (and never more than the header's
/// raw size); `None` if it is not one. A damaged stream yields what decodes before the damage.
pub(crate) fn decompress(data: &[u8], max: usize) -> Option<Vec<u8>> {
    let header = data.get(..16)?;
    let raw_size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let cap = raw_size.min(max);
    let body = &data[16..];
    match &header[8..12] {
        m if m == UNCOMPRESSED => Some(body[..cap.min(body.len())].to_vec()),
        m if m == COMPRESSED => {
            let mut dict = [0u8; 4096];
            dict[..PREBUF.len()].copy_from_slice(PREBUF);
            let mut write = PREBUF.len();
            // The output grows as it is decoded; the claimed size is only an upper bound.
            let mut out = Vec::with_capacity(cap.min(body.len().saturating_mul(8)));
            let mut i = 0;
            'runs: while i < body.len() {
                let control = body[i];
                i += 1;
                for bit in 0..8 {
                    if out.len() >= cap {
                        break 'runs;
                    }
                    if control & (1 << bit) == 0 {
                        let Some(&byte) = body.get(i) else {
                            break 'runs;
                        };
                        i += 1;
                        out.push(byte);
                        dict[write] = byte;
                        write = (write + 1) % dict.len();
                    } else {
                        let Some(pair) = body.get(i..i + 2) else {
                            break 'runs;
                        };
                        i += 2;
                        let word = u16::from_be_bytes([pair[0], pair[1]]) as usize;
                        let (offset, length) = (word >> 4, (word & 0xF) + 2);
                        // A reference to the write position itself marks the end.
                        if offset == write {
                            break 'runs;
                        }
                        for k in 0..length {
                            let byte = dict[(offset + k) % dict.len()];
                            out.push(byte);
                            dict[write] = byte;
                            write = (write + 1) % dict.len();
                        }
                    }
                }
            }
            out.truncate(cap);
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preamble_is_the_specified_207_bytes() {
        assert_eq!(PREBUF.len(), 207);
    }

    /// The example of MS-OXRTFCP 3.1.1 ("simple compressed RTF"), whose runs refer back
    /// into the preamble.
    #[test]
    fn the_specification_example_decompresses() {
        let data: [u8; 49] = [
            0x2d, 0x00, 0x00, 0x00, 0x2b, 0x00, 0x00, 0x00, 0x4c, 0x5a, 0x46, 0x75, 0xf1, 0xc5,
            0xc7, 0xa7, 0x03, 0x00, 0x0a, 0x00, 0x72, 0x63, 0x70, 0x67, 0x31, 0x32, 0x35, 0x42,
            0x32, 0x0a, 0xf3, 0x20, 0x68, 0x65, 0x6c, 0x09, 0x00, 0x20, 0x62, 0x77, 0x05, 0xb0,
            0x6c, 0x64, 0x7d, 0x0a, 0x80, 0x0f, 0xa0,
        ];
        let out = decompress(&data, 1 << 20).expect("compressed rtf");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "{\\rtf1\\ansi\\ansicpg1252\\pard hello world}\r\n"
        );
    }

    #[test]
    fn stored_rtf_is_read_and_sizes_are_bounded() {
        let mut data = vec![0u8; 16];
        data[4..8].copy_from_slice(&1_000_000u32.to_le_bytes());
        data[8..12].copy_from_slice(UNCOMPRESSED);
        data.extend_from_slice(b"{\\rtf1 plain}");
        // The claimed size is past the data: what is there comes out, nothing more.
        assert_eq!(
            decompress(&data, 1 << 20).expect("stored"),
            b"{\\rtf1 plain}"
        );
        assert_eq!(decompress(&data, 6).expect("stored"), b"{\\rtf1");
        assert_eq!(decompress(&data[..10], 100), None);
        data[8..12].copy_from_slice(b"XXXX");
        assert_eq!(decompress(&data, 100), None);
    }
}
