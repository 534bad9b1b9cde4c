//! Pictures stored in OfficeArt (Escher) records, the drawing layer of the binary Office
//! formats: XLS keeps them in its `MSODRAWINGGROUP` records, PPT in its `Pictures` stream.
//! The metafile pictures among them (EMF, WMF) are mostly the previews Office draws of
//! embedded objects and charts, and diagrams, whose text (axis labels, a linked table's
//! cells, a diagram's labels) is what the page shows.
//!
//! Records: 8-byte header (version/instance, type, length); containers (version 0xF) hold
//! records. A blip-store entry (`OfficeArtFBSE`, 0xF007) is 36 bytes and a name before the
//! picture record it embeds. An EMF or WMF picture (`OfficeArtBlipEMF`, 0xF01A;
//! `OfficeArtBlipWMF`, 0xF01B) is one or two 16-byte ids, a 34-byte metafile header
//! (sizes, and compression 0 = DEFLATE), then data. [MS-ODRAW] 2.2.

use std::io::Read;

const FBSE: u16 = 0xF007;
const BLIP_EMF: u16 = 0xF01A;
const BLIP_WMF: u16 = 0xF01B;

/// At most this many pictures are read per document.
const MAX_PICTURES: usize = 64;

/// The header of the record at `at`: (version/instance, type, length). The same 8-byte
/// header frames PowerPoint's records.
pub(crate) fn header(data: &[u8], at: usize) -> Option<(u16, u16, usize)> {
    let h = data.get(at..at + 8)?;
    Some((
        u16::from_le_bytes([h[0], h[1]]),
        u16::from_le_bytes([h[2], h[3]]),
        u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize,
    ))
}

/// Every atom (record that is not a container) of a record tree, depth first, as
/// (version/instance, type, body). Containers (version 0xF) are entered, not yielded; a
/// record longer than what is left is cut to it, and a truncated header ends the walk.
pub(crate) fn atoms(data: &[u8]) -> impl Iterator<Item = (u16, u16, &[u8])> {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        loop {
            let (ver_inst, kind, len) = header(data, pos)?;
            let body = pos + 8;
            if ver_inst & 0xF == 0xF {
                pos = body;
                continue;
            }
            let end = body.saturating_add(len).min(data.len());
            pos = end;
            return Some((ver_inst, kind, &data[body..end]));
        }
    })
}

/// Inflates a zlib stream, keeping what came out before an error: Office writes some
/// streams without their end marker or checksum, which other readers tolerate. `None` when
/// nothing came out or more than `max` bytes would.
pub(crate) fn inflate(z: &[u8], max: usize) -> Option<Vec<u8>> {
    let mut decoder = flate2::read::ZlibDecoder::new(z);
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out.len() + n > max {
                    return None;
                }
                out.extend_from_slice(&buf[..n]);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The metafile pictures, EMF and WMF (decompressed, each at most `max` bytes), in a run
/// of OfficeArt records.
pub(crate) fn metafiles(data: &[u8], max: usize) -> Vec<Vec<u8>> {
    atoms(data)
        .filter_map(|(ver_inst, kind, body)| match kind {
            // The picture record sits after the entry's 36 fixed bytes and its name.
            FBSE => {
                let name_len = body.get(33).map_or(0, |&n| usize::from(n));
                let blip = 36 + name_len;
                match header(body, blip)? {
                    (inst, BLIP_EMF | BLIP_WMF, len) => {
                        let start = blip + 8;
                        let end = start.saturating_add(len).min(body.len());
                        metafile(body.get(start..end)?, inst >> 4, max)
                    }
                    _ => None,
                }
            }
            BLIP_EMF | BLIP_WMF => metafile(body, ver_inst >> 4, max),
            _ => None,
        })
        .take(MAX_PICTURES)
        .collect()
}

/// The metafile of an `OfficeArtBlipEMF` or `OfficeArtBlipWMF` body (`instance` 0x3D5,
/// 0x217: a second id follows the first).
fn metafile(body: &[u8], instance: u16, max: usize) -> Option<Vec<u8>> {
    let ids = if instance == 0x3D5 || instance == 0x217 {
        32
    } else {
        16
    };
    let meta = body.get(ids..ids + 34)?;
    let size = u32::from_le_bytes([meta[0], meta[1], meta[2], meta[3]]) as usize;
    let compression = meta[32];
    let data = body.get(ids + 34..)?;
    if size > max {
        return None;
    }
    if compression == 0xFE {
        return Some(data.to_vec());
    }
    inflate(data, max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn record(ver_inst: u16, kind: u16, body: &[u8]) -> Vec<u8> {
        let mut r = ver_inst.to_le_bytes().to_vec();
        r.extend_from_slice(&kind.to_le_bytes());
        r.extend_from_slice(&(body.len() as u32).to_le_bytes());
        r.extend_from_slice(body);
        r
    }

    fn blip(metafile: &[u8], compressed: bool) -> Vec<u8> {
        let mut body = vec![0u8; 16]; // id
        let data = if compressed {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(metafile).expect("deflate");
            z.finish().expect("deflate")
        } else {
            metafile.to_vec()
        };
        let mut meta = vec![0u8; 34];
        meta[..4].copy_from_slice(&(metafile.len() as u32).to_le_bytes());
        meta[28..32].copy_from_slice(&(data.len() as u32).to_le_bytes());
        meta[32] = if compressed { 0 } else { 0xFE };
        body.extend_from_slice(&meta);
        body.extend_from_slice(&data);
        record(0x3D40, BLIP_EMF, &body)
    }

    #[test]
    fn metafile_pictures_are_found_in_blip_stores_and_inflated() {
        let emf = crate::office::emf::sample(&["Tech Partners"]);
        // XLS: a drawing group container, a blip store, one entry (with a 2-byte name).
        let mut fbse = vec![0u8; 36];
        fbse[33] = 2;
        fbse.extend_from_slice(&[b'n', 0]);
        fbse.extend(blip(&emf, true));
        let store = record(0x002F, 0xF001, &record(0x0022, FBSE, &fbse));
        let group = record(
            0x000F,
            0xF000,
            &[record(0, 0xF006, &[0u8; 16]), store].concat(),
        );
        assert_eq!(metafiles(&group, 1 << 20), vec![emf.clone()]);
        // PPT's Pictures stream: pictures one after the other, stored or deflated.
        let pictures = [blip(&emf, false), blip(&emf, true)].concat();
        assert_eq!(metafiles(&pictures, 1 << 20).len(), 2);
        // A WMF picture (instance 0x217: two ids) is read the same way.
        let wmf = crate::office::wmf::sample(&[]);
        let mut wmf_blip = blip(&wmf, true);
        wmf_blip[..4].copy_from_slice(&[0x70, 0x21, 0x1B, 0xF0]);
        wmf_blip.splice(8..8, [7u8; 16]);
        let len = (wmf_blip.len() - 8) as u32;
        wmf_blip[4..8].copy_from_slice(&len.to_le_bytes());
        assert_eq!(metafiles(&wmf_blip, 1 << 20), vec![wmf]);
        // Over the size limit, or cut short: nothing, no panic.
        assert!(metafiles(&pictures, 10).is_empty());
        assert!(metafiles(&pictures[..30], 1 << 20).is_empty());
    }
}
