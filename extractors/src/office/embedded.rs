//! Documents inside documents: parts of a package and objects of a compound file, each
//! extracted one level down within the embedded-depth cap and what is left of the output
//! budget, its sections headed by where it came from.

use std::io::Cursor;

use super::{doc, emf};
use crate::{Deadline, ErrorKind, ExtractError, Extracted, Format, Limits};

/// A new compound file holding `streams` (path, bytes), for readers that must not see the
/// original's damaged or hostile structure.
pub(crate) fn compound_file(streams: &[(&str, &[u8])]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    // Version 3 (512-byte sectors): calamine refuses a version 4 file whose root has no
    // mini stream, which is what `cfb` writes when every stream is large.
    let mut out =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new()))?;
    for (path, bytes) in streams {
        out.create_stream(path)?.write_all(bytes)?;
    }
    out.flush()?;
    Ok(out.into_inner().into_inner())
}

/// At most this many embedded documents are extracted from one container.
pub(super) const MAX_EMBEDDED: usize = 32;

/// Extracts a document embedded in `doc` (one level down) and appends its sections,
/// headed by its part name. A failure is a warning on the outer document.
pub(crate) fn append_embedded(
    doc: &mut Extracted,
    name: &str,
    bytes: &[u8],
    limits: &Limits,
    deadline: Deadline,
) {
    if limits.max_embedded_depth == 0 {
        return;
    }
    let child_limits = Limits {
        max_embedded_depth: limits.max_embedded_depth - 1,
        max_output_bytes: doc.output_room(limits),
        ..limits.clone()
    };
    if child_limits.max_output_bytes == 0 {
        return;
    }
    let short = name.rsplit('/').next().unwrap_or(name);
    let format = crate::detect(bytes, &crate::Hints::file_name(short));
    let result = crate::Registry::default()
        .extractors
        .iter()
        .find(|e| e.formats().contains(&format))
        .ok_or_else(|| {
            ExtractError::new(ErrorKind::Unsupported, format!("format {}", format.name()))
        })
        .and_then(|e| e.extract(bytes, format, &child_limits, deadline));
    match result {
        Ok(inner) => {
            for mut section in inner.sections {
                section.heading.insert(0, short.to_string());
                section.page = None;
                doc.sections.push(section);
            }
        }
        Err(e) => doc.warnings.push(crate::Warning {
            code: "embedded_failed",
            message: format!("{short}: {}", e),
        }),
    }
}

/// The payload of an `Ole10Native` stream (the OLE1 "Package" layout, as oletools reads
/// it): total size, a 2-byte flag, label and source path (NUL-terminated), two reserved
/// words, the temporary path (NUL-terminated), the data length, then the data.
/// Returns the label too: the file name shown under the object's icon.
pub(crate) fn ole10_native(data: &[u8]) -> Option<(String, &[u8])> {
    let mut pos = 4 + 2;
    let label_end = pos + data.get(pos..)?.iter().position(|&b| b == 0)?;
    // The label is in the writer's ANSI code page; newer writers put UTF-8 there, which
    // no Windows-1252 text of letters ever is (a multibyte sequence needs C2-F4 followed
    // by 80-BF, as Latin text never runs).
    let raw = &data[pos..label_end];
    let label = match std::str::from_utf8(raw) {
        Ok(utf8) => utf8.trim().to_string(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(raw)
            .0
            .trim()
            .to_string(),
    };
    for _ in 0..2 {
        pos += data.get(pos..)?.iter().position(|&b| b == 0)? + 1;
    }
    pos += 8;
    pos += data.get(pos..)?.iter().position(|&b| b == 0)? + 1;
    let len = u32::from_le_bytes(data.get(pos..pos + 4)?.try_into().ok()?) as usize;
    pos += 4;
    Some((label, data.get(pos..pos.checked_add(len)?)?))
}

/// An object shown as an icon: the caption under it, its file name, is text on the page.
pub(super) fn append_caption(doc: &mut Extracted, caption: &str) {
    let mut b = crate::DocBuilder::new(doc.format, caption.len() + 1);
    b.heading(1, caption);
    doc.sections.extend(b.finish().sections);
}

/// The streams a packaged OLE object keeps its file in, in the order they are tried.
const PACKAGE_STREAMS: [&str; 3] = ["Package", "CONTENTS", "\u{1}Ole10Native"];

/// A file a packaged OLE object wraps.
pub(super) struct Packaged {
    /// Its name: the icon's caption for an OLE1 package, else the stream's name.
    pub(super) name: String,
    /// Whether `name` is a caption shown on the page.
    pub(super) captioned: bool,
    pub(super) bytes: Vec<u8>,
}

/// The file a packaged OLE object in `storage` ("" for the root) wraps. `Ok(None)` when
/// `storage` holds no package stream; `Err` when it holds one that cannot be read or decoded.
pub(super) fn package_payload(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    storage: &str,
    limits: &Limits,
) -> Result<Option<Packaged>, ExtractError> {
    let broken = |e: &dyn std::fmt::Display| {
        ExtractError::new(ErrorKind::Corrupt, format!("embedded stream: {e}"))
    };
    let Some(stream) = PACKAGE_STREAMS
        .into_iter()
        .find(|s| ole.is_stream(format!("{storage}/{s}")))
    else {
        return Ok(None);
    };
    let mut data = Vec::new();
    let s = ole
        .open_stream(format!("{storage}/{stream}"))
        .map_err(|e| broken(&e))?;
    std::io::Read::read_to_end(
        &mut std::io::Read::take(s, limits.max_input_bytes as u64),
        &mut data,
    )
    .map_err(|e| broken(&e))?;
    if stream.starts_with('\u{1}') {
        let (label, bytes) = ole10_native(&data)
            .ok_or_else(|| ExtractError::new(ErrorKind::Corrupt, "a malformed embedded object"))?;
        if !label.is_empty() {
            return Ok(Some(Packaged {
                name: label,
                captioned: true,
                bytes: bytes.to_vec(),
            }));
        }
        data = bytes.to_vec();
    }
    Ok(Some(Packaged {
        name: stream.trim_start_matches('\u{1}').to_string(),
        captioned: false,
        bytes: data,
    }))
}

/// Extracts objects embedded in an OLE2 file, one storage each: a whole Word document (its
/// own `WordDocument` stream), or a packaged file (`Package`, `CONTENTS`, `\u{1}Ole10Native`).
/// Failures are warnings on `doc`.
pub(crate) fn ole_embedded(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    doc: &mut Extracted,
    storages: Vec<String>,
    limits: &Limits,
    deadline: Deadline,
) {
    if limits.max_embedded_depth == 0 {
        return;
    }
    for storage in storages.into_iter().take(MAX_EMBEDDED) {
        if deadline.check().is_err() {
            return;
        }
        let name = storage.rsplit('/').next().unwrap_or("object").to_string();
        if ole.is_stream(format!("{storage}/WordDocument")) {
            let child = Limits {
                max_embedded_depth: limits.max_embedded_depth - 1,
                ..limits.clone()
            };
            match doc::text_at(ole, &storage, &child, deadline) {
                Ok(inner) => {
                    for mut section in inner.sections {
                        section.heading.insert(0, name.clone());
                        doc.sections.push(section);
                    }
                }
                Err(e) => doc.warnings.push(crate::Warning {
                    code: "embedded_failed",
                    message: format!("{name}: {e}"),
                }),
            }
            continue;
        }
        if ole.is_stream(format!("{storage}/Workbook"))
            || ole.is_stream(format!("{storage}/PowerPoint Document"))
        {
            match storage_as_file(ole, &storage, limits.max_input_bytes as u64) {
                Ok(file) => append_embedded(doc, &name, &file, limits, deadline),
                Err(e) => doc.warnings.push(crate::Warning {
                    code: "embedded_failed",
                    message: format!("{name}: {e}"),
                }),
            }
            continue;
        }
        match package_payload(ole, &storage, limits) {
            Ok(Some(file)) if file.captioned => {
                append_caption(doc, &file.name);
                append_embedded(doc, &file.name, &file.bytes, limits, deadline);
            }
            Ok(Some(file)) => append_embedded(doc, &name, &file.bytes, limits, deadline),
            Ok(None) => {
                // No content of its own (a linked file): its print preview is all there is.
                let preview = format!("{storage}/\u{3}EPRINT");
                if let Ok(emf) = doc::read_stream(ole, &preview, limits.max_input_bytes as u64) {
                    let lines = emf::text(&emf);
                    if !lines.is_empty() {
                        let mut b = crate::DocBuilder::new(Format::Ole, limits.max_output_bytes);
                        b.heading(1, &name);
                        for line in &lines {
                            b.paragraph(line);
                        }
                        doc.sections.extend(b.finish().sections);
                    }
                }
            }
            Err(e) => doc.warnings.push(crate::Warning {
                code: "embedded_failed",
                message: format!("{name}: {e}"),
            }),
        }
    }
}

/// Copies one storage — its streams and sub-storages, at most `max` bytes of streams — into
/// a compound file of its own, so that an object embedded as a storage (an XLS or PPT in a
/// workbook) is extracted exactly like the file it was.
fn storage_as_file(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    storage: &str,
    max: u64,
) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Write};
    let entries: Vec<(std::path::PathBuf, bool)> = ole
        .walk_storage(storage)?
        .map(|e| (e.path().to_path_buf(), e.is_storage()))
        .collect();
    let mut out = cfb::CompoundFile::create(Cursor::new(Vec::new()))?;
    let mut left = max;
    for (path, is_storage) in entries {
        let Ok(rel) = path.strip_prefix(storage) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let target = std::path::Path::new("/").join(rel);
        if is_storage {
            out.create_storage(&target)?;
            continue;
        }
        let mut stream = ole.open_stream(&path)?;
        if stream.len() > left {
            return Err(std::io::Error::other(format!(
                "embedded object larger than {max} bytes"
            )));
        }
        left -= stream.len();
        let mut bytes = Vec::with_capacity(stream.len() as usize);
        stream.read_to_end(&mut bytes)?;
        out.create_stream(&target)?.write_all(&bytes)?;
    }
    out.flush()?;
    Ok(out.into_inner().into_inner())
}

/// An `Ole10Native` payload whose label is `label`'s bytes, for tests.
#[cfg(test)]
pub(crate) fn package(label: &[u8], data: &[u8]) -> Vec<u8> {
    let mut body = vec![2, 0];
    body.extend_from_slice(label);
    body.extend_from_slice(b"\0C:\\x\0");
    body.extend_from_slice(&[0; 8]);
    body.extend_from_slice(b"C:\\Temp\\x\0");
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::{ole10_native, package};

    #[test]
    fn a_packages_label_reads_as_utf8_where_it_is_and_as_windows_1252_otherwise() {
        let check = |label: &[u8], expected: &str| {
            let payload = package(label, b"data");
            let (read, data) = ole10_native(&payload).expect("a package");
            assert_eq!((read.as_str(), data), (expected, b"data".as_slice()));
        };
        check("約翰的測試文件.msg".as_bytes(), "約翰的測試文件.msg");
        check(b"R\xe9sum\xe9.docx", "Résumé.docx");
    }
}
