//! Legacy PowerPoint (`.ppt`): the text atoms of the `PowerPoint Document` stream.
//!
//! The stream is a tree of records (8-byte header: version/instance, type, length);
//! containers (version 0xF) hold records, atoms hold data. Slide text lives in
//! `TextCharsAtom` (UTF-16LE) and `TextBytesAtom` (8-bit) records; text under masters and
//! handouts is template text and is left out, and text stored twice (the slide list and the
//! shape) is kept once. Each `SlideContainer` with its own text becomes a section.
//! The walk is iterative and bounded by the stream length, so a hostile record tree cannot
//! loop or recurse without end.

use std::collections::HashSet;
use std::io::{Cursor, Read};

use crate::office::escher::{atoms, header, inflate};
use crate::office::ppt_edits::live_records;
use crate::{Deadline, DocBuilder, ErrorKind, ExtractError, Extracted, Format, Limits};

const SLIDE_CONTAINER: u16 = 0x03EE;
const TEXT_CHARS_ATOM: u16 = 0x0FA0;
const TEXT_BYTES_ATOM: u16 = 0x0FA8;
/// Masters hold template text ("Click to edit Master title style") in placeholders, and
/// real text (a logo caption, a confidentiality line) in other text boxes.
const MAIN_MASTER: u16 = 0x03F8;
/// A notes page, or the notes master (`NotesContainer`, MS-PPT 2.5.12).
const NOTES: u16 = 0x03F0;
/// A notes container's first child; its `slideIdRef` is 0 for the notes master.
const NOTES_ATOM: u16 = 0x03F1;
/// Handouts hold only template text.
const HANDOUT: u16 = 0x0FC9;
/// Precedes each text's atoms; its value says which placeholder (if any) holds the text.
const TEXT_HEADER_ATOM: u16 = 0x0F9F;
/// `TextHeaderAtom` value of text that is in no placeholder.
const TEXT_TYPE_OTHER: u32 = 4;
/// Comments keep their author, text and initials in CString atoms.
const COMMENT: u16 = 0x2EE0;
const CSTRING: u16 = 0x0FBA;
/// An atom whose data is itself a list of records: PowerPoint 2002+ keeps slide comments
/// (and other extensions) in one, under the slide's programmable tags.
const BINARY_TAG_DATA_BLOB: u16 = 0x138B;

/// PowerPoint's placeholder prompts: template text, never content, wherever they are stored.
fn is_prompt(text: &str) -> bool {
    matches!(
        text,
        "Click to edit Master title style"
            | "Click to edit Master subtitle style"
            | "Click to edit Master text styles"
            | "Second level"
            | "Third level"
            | "Fourth level"
            | "Fifth level"
    )
}

/// An embedded OLE object's storage (an XLS, a DOC, a PDF wrapper), zlib-compressed when
/// the record instance is 1 (then prefixed with its decompressed size).
const EX_OLE_OBJ_STG: u16 = 0x1011;

/// At most this many embedded objects are opened per presentation.
const MAX_OBJECTS: usize = 64;

/// The embedded objects' compound files, decompressed, each at most `max` bytes.
fn embedded_objects(stream: &[u8], max: usize, deadline: Deadline) -> Vec<Vec<u8>> {
    atoms(stream)
        .take_while(|_| deadline.check().is_ok())
        .filter(|(_, kind, _)| *kind == EX_OLE_OBJ_STG)
        .filter_map(|(ver_inst, _, data)| {
            if ver_inst >> 4 != 1 {
                return Some(data.to_vec());
            }
            // Prefixed with the inflated size: an object that inflates to less is damaged
            // (a partial compound file yields partial, misleading text) and is skipped.
            let declared = data
                .get(..4)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
            data.get(4..)
                .and_then(|z| inflate(z, max))
                .filter(|out| Some(out.len()) == declared)
        })
        .take(MAX_OBJECTS)
        .collect()
}

fn corrupt(what: &str) -> ExtractError {
    ExtractError::new(ErrorKind::Corrupt, format!("ppt: {what}"))
}

/// The text of a presentation, by where it shows.
#[derive(Debug, Default)]
struct Texts {
    /// Text pieces found under each slide, after a leading bucket for text outside slides
    /// and masters (notes, the slide list of older files).
    slides: Vec<Vec<String>>,
    /// Text of the masters outside placeholders (a logo caption, a footer line): it shows
    /// on every slide drawn on the master.
    master: Vec<String>,
}

/// Whether the record at `body..end`, marked as a container, really holds records: its
/// first child must fit inside it. Some atoms carry version 0xF (PowerPoint 2007's
/// round-trip records hold a whole theme as a ZIP), and descending into them would read
/// their bytes as records and lose the rest of the stream.
fn holds_records(stream: &[u8], body: usize, end: usize) -> bool {
    if body == end {
        return true;
    }
    header(stream, body).is_some_and(|(_, _, len)| {
        body.checked_add(8)
            .and_then(|b| b.checked_add(len))
            .is_some_and(|child_end| child_end <= end)
    })
}

/// Whether the notes container whose body starts at `body` is the notes master: its
/// `NotesAtom` refers to no slide. A slide's id is at least 0x100 and below 0x80000000
/// (MS-PPT 2.2.25); the notes master's is 0 by the spec and a master's id (high bit set)
/// as PowerPoint writes it. Its body placeholder holds the template's prompt ("Click to
/// edit Master text styles", in the file's language), which no notes page shows.
fn is_notes_master(stream: &[u8], body: usize) -> bool {
    matches!(header(stream, body), Some((_, NOTES_ATOM, len)) if len >= 4)
        && stream
            .get(body + 8..body + 12)
            .and_then(|id| id.try_into().ok())
            .map(u32::from_le_bytes)
            .is_some_and(|id| !(0x100..0x8000_0000).contains(&id))
}

/// Text pieces found under each slide (and a leading bucket for text outside slides).
/// With `live` (the persist directory's objects), top-level records that are not live —
/// versions an incremental save superseded — are skipped.
fn text_by_slide(
    stream: &[u8],
    live: Option<&HashSet<usize>>,
    deadline: Deadline,
) -> Result<Texts, ExtractError> {
    let mut slides: Vec<Vec<String>> = vec![Vec::new()];
    let mut master: Vec<String> = Vec::new();
    // (end offset of a container, whether it is a slide, skipped, a comment)
    let mut open: Vec<(usize, bool, bool, bool)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut master_depth: Option<usize> = None;
    let mut text_type = None;
    let mut pos = 0usize;
    let mut n = 0usize;
    while pos + 8 <= stream.len() {
        n += 1;
        if n.is_multiple_of(4096) {
            deadline.check()?;
        }
        while open.last().is_some_and(|(end, _, _, _)| pos >= *end) {
            open.pop();
            if master_depth.is_some_and(|d| open.len() < d) {
                master_depth = None;
            }
        }
        let Some((ver_inst, kind, len)) = header(stream, pos) else {
            break;
        };
        let body = pos + 8;
        let end = body.saturating_add(len).min(stream.len());
        if open.is_empty() && live.is_some_and(|live| !live.contains(&pos)) {
            pos = end.max(body);
            continue;
        }
        if (ver_inst & 0x000F == 0x000F || kind == BINARY_TAG_DATA_BLOB)
            && holds_records(stream, body, end)
        {
            if kind == SLIDE_CONTAINER {
                slides.push(Vec::new());
            }
            let master = kind == MAIN_MASTER || (kind == NOTES && is_notes_master(stream, body));
            if master && master_depth.is_none() {
                master_depth = Some(open.len() + 1);
            }
            open.push((
                end,
                kind == SLIDE_CONTAINER,
                kind == HANDOUT,
                kind == COMMENT,
            ));
            pos = body; // descend
            continue;
        }
        let data = &stream[body..end];
        let skipped = open.iter().any(|(_, _, skip, _)| *skip);
        let in_comment = open.iter().any(|(_, _, _, comment)| *comment);
        if kind == TEXT_HEADER_ATOM && data.len() >= 4 {
            text_type = Some(u32::from_le_bytes([data[0], data[1], data[2], data[3]]));
        }
        // On a master, only text outside placeholders is content.
        let template = master_depth.is_some() && text_type != Some(TEXT_TYPE_OTHER);
        let text = match kind {
            _ if skipped || (template && kind != CSTRING) => None,
            CSTRING if in_comment => Some(crate::text::utf16le(data)),
            TEXT_CHARS_ATOM => Some(crate::text::utf16le(data)),
            TEXT_BYTES_ATOM => Some(encoding_rs::WINDOWS_1252.decode(data).0.into_owned()),
            _ => None,
        };
        if let Some(text) = text {
            let text = text.replace(['\r', '\u{0B}'], "\n");
            let trimmed = text.trim();
            // "*" is the slide-number field's placeholder.
            let lines: Vec<&str> = trimmed.lines().filter(|l| !is_prompt(l.trim())).collect();
            let trimmed = lines.join("\n");
            let trimmed = trimmed.trim();
            let in_slide = open.iter().any(|(_, slide, _, _)| *slide);
            let on_master = master_depth.is_some() && !in_comment;
            // Text outside slides (the slide list's placeholders, masters, notes) shows
            // once; a slide's own shapes may repeat a piece another slide has (a deck that
            // repeats a label), but not one shown outside slides or already on this slide.
            let fresh = if in_slide && !on_master {
                !seen.contains(&(0, trimmed.to_string()))
                    && seen.insert((slides.len() - 1, trimmed.to_string()))
            } else {
                seen.insert((0, trimmed.to_string()))
            };
            if !trimmed.is_empty() && trimmed != "*" && fresh {
                if on_master {
                    master.push(trimmed.to_string());
                } else {
                    let bucket = if in_slide { slides.len() - 1 } else { 0 };
                    slides[bucket].push(trimmed.to_string());
                }
            }
        }
        pos = end.max(body); // skip the atom
    }
    Ok(Texts { slides, master })
}

pub(crate) fn extract(
    ole: &mut cfb::CompoundFile<Cursor<&[u8]>>,
    limits: &Limits,
    deadline: Deadline,
) -> Result<Extracted, ExtractError> {
    // PowerPoint 95 files saved "for 95 and 97" keep the PowerPoint 97 document in a
    // storage of its own; the root stream is the 95 format, which this reader does not
    // parse.
    let path = if ole.is_stream("/PP97_DUALSTORAGE/PowerPoint Document") {
        "/PP97_DUALSTORAGE/PowerPoint Document"
    } else {
        "/PowerPoint Document"
    };
    let mut stream = Vec::new();
    ole.open_stream(path)
        .map_err(|e| corrupt(&e.to_string()))?
        .take(limits.max_input_bytes as u64)
        .read_to_end(&mut stream)
        .map_err(|e| corrupt(&e.to_string()))?;
    if ole.is_stream("/EncryptedSummary") {
        return Err(ExtractError::new(
            ErrorKind::Encrypted,
            "the presentation is protected with a password",
        ));
    }
    let mut current_user = Vec::new();
    if let Ok(s) = ole.open_stream("/Current User") {
        s.take(4096)
            .read_to_end(&mut current_user)
            .map_err(|e| corrupt(&e.to_string()))?;
    }
    // The dual-storage stream has a persist directory of its own, which `Current User`
    // does not point into.
    let live = (path == "/PowerPoint Document")
        .then(|| live_records(&current_user, &stream))
        .flatten();
    let Texts { slides, master } = text_by_slide(&stream, live.as_ref(), deadline)?;
    let objects = if limits.max_embedded_depth > 0 {
        embedded_objects(&stream, limits.max_input_bytes, deadline)
    } else {
        Vec::new()
    };
    let mut b = DocBuilder::new(Format::Ppt, limits.max_output_bytes);
    let mut number = 0u32;
    for (i, texts) in slides.iter().enumerate() {
        if i > 0 {
            number += 1;
            if texts.is_empty() && master.is_empty() {
                continue;
            }
            b.page(number);
        }
        // Each slide shows its master's own text too (as Tika and POI read it).
        let shown = if i > 0 { master.as_slice() } else { &[] };
        if !texts.iter().chain(shown).all(|t| b.paragraph(t)) {
            break;
        }
    }
    if slides.len() <= 1 && !master.is_empty() {
        // No slide at all: the master's text is still the document's.
        for t in &master {
            if !b.paragraph(t) {
                break;
            }
        }
    }
    let mut doc = b.finish();
    // Previews of embedded objects and charts, and diagrams, are metafile pictures (EMF,
    // WMF) in the Pictures stream.
    let mut pictures = Vec::new();
    if let Ok(stream) = ole.open_stream("/Pictures") {
        stream
            .take(limits.max_input_bytes as u64)
            .read_to_end(&mut pictures)
            .map_err(|e| corrupt(&e.to_string()))?;
    }
    for (i, picture) in crate::office::escher::metafiles(&pictures, limits.max_input_bytes)
        .iter()
        .enumerate()
    {
        crate::office::append_picture_text(
            &mut doc,
            &format!("Picture {}", i + 1),
            picture,
            limits,
        );
    }
    for (i, object) in objects.iter().enumerate() {
        deadline.check()?;
        let name = format!("Embedded object {}", i + 1);
        crate::office::append_embedded(&mut doc, &name, object, limits, deadline);
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(ver_inst: u16, kind: u16, body: &[u8]) -> Vec<u8> {
        let mut out = ver_inst.to_le_bytes().to_vec();
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    /// The text of a record stream read whole (no persist directory).
    fn texts_of(stream: &[u8]) -> Texts {
        text_by_slide(stream, None, Deadline::after(Duration::from_secs(5))).expect("parses")
    }

    #[test]
    fn embedded_objects_are_inflated_and_damaged_ones_skipped() {
        use std::io::Write;
        let payload = b"an embedded compound file".repeat(20);
        let zlib = |data: &[u8]| {
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            z.write_all(data).expect("deflate");
            z.finish().expect("deflate")
        };
        let compressed = |declared: usize, z: &[u8]| {
            let mut body = (declared as u32).to_le_bytes().to_vec();
            body.extend_from_slice(z);
            record(0x0010, EX_OLE_OBJ_STG, &body)
        };
        let whole = zlib(&payload);
        // Without its checksum, as PowerPoint sometimes writes.
        let unterminated = &whole[..whole.len() - 4];
        let stream = record(
            0x000F,
            0x0409,
            &[
                compressed(payload.len(), &whole),
                compressed(payload.len(), unterminated),
                compressed(payload.len() * 2, &whole), // inflates short: damaged
                record(0, EX_OLE_OBJ_STG, b"stored as is"),
                compressed(4, b"not zlib at all"),
            ]
            .concat(),
        );
        let objects = embedded_objects(&stream, 1 << 20, Deadline::after(Duration::from_secs(5)));
        assert_eq!(objects.len(), 3);
        assert_eq!(objects[0], payload);
        assert_eq!(objects[1].len(), payload.len());
        assert_eq!(objects[2], b"stored as is");
        // An object that would inflate past the limit is not inflated.
        let objects = embedded_objects(&stream, 100, Deadline::after(Duration::from_secs(5)));
        assert_eq!(objects, vec![b"stored as is".to_vec()]);
    }

    #[test]
    fn text_atoms_are_grouped_by_slide() {
        let utf16: Vec<u8> = "Résumé".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let slide1 = record(
            0x000F,
            SLIDE_CONTAINER,
            &[
                record(0, TEXT_CHARS_ATOM, &utf16),
                record(0, TEXT_BYTES_ATOM, b"second"),
                record(0, TEXT_BYTES_ATOM, b"second"),
            ]
            .concat(),
        );
        let utf16le =
            |t: &str| -> Vec<u8> { t.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        // PowerPoint 2002+ stores a slide's comments inside a BinaryTagDataBlob atom under
        // its programmable tags.
        let tagged_comment = record(
            0x000F,
            0x1388,
            &record(
                0x000F,
                0x138A,
                &record(
                    0,
                    BINARY_TAG_DATA_BLOB,
                    &record(
                        0x000F,
                        COMMENT,
                        &record(0x0010, CSTRING, &utf16le("Add content")),
                    ),
                ),
            ),
        );
        let slide2 = record(
            0x000F,
            SLIDE_CONTAINER,
            &[
                record(0, TEXT_BYTES_ATOM, b"third"),
                record(0, TEXT_BYTES_ATOM, b"second"),
                tagged_comment,
            ]
            .concat(),
        );
        // A master: a title placeholder (text type 0) holds a prompt in any wording; a
        // plain text box (type 4) holds content.
        let master = record(
            0x000F,
            MAIN_MASTER,
            &[
                record(0, TEXT_HEADER_ATOM, &0u32.to_le_bytes()),
                record(0, TEXT_BYTES_ATOM, b"Click to edit the title text format"),
                record(0, TEXT_HEADER_ATOM, &TEXT_TYPE_OTHER.to_le_bytes()),
                record(0, TEXT_BYTES_ATOM, b"ACME confidential"),
            ]
            .concat(),
        );
        let list = record(
            0x000F,
            0x0FF0,
            &[
                record(0, TEXT_BYTES_ATOM, b"third"),
                record(0, TEXT_BYTES_ATOM, b"*"),
            ]
            .concat(),
        );
        let comment = record(
            0x000F,
            COMMENT,
            &[
                record(0, CSTRING, &utf16le("Ana")),
                record(0x0010, CSTRING, &utf16le("Fix the date")),
            ]
            .concat(),
        );
        let prompt = record(
            0x000F,
            0x0FF0,
            &record(
                0,
                TEXT_BYTES_ATOM,
                b"Click to edit Master text styles\rSecond level",
            ),
        );
        let doc = record(
            0x000F,
            0x03E8,
            &[master, list, prompt, slide1, slide2, comment].concat(),
        );
        let texts = texts_of(&doc);
        // Master placeholders, prompts and "*" are dropped, a master's own text box is
        // kept (for every slide); "third" appears once, where it came first outside the
        // slides; "second" once on each slide that shows it; a comment keeps its author
        // and text.
        assert_eq!(texts.master, ["ACME confidential"]);
        assert_eq!(
            texts.slides,
            vec![
                vec!["third".to_string(), "Ana".into(), "Fix the date".into()],
                vec!["Résumé".into(), "second".into()],
                vec!["second".into(), "Add content".into()]
            ]
        );
        // A record claiming more bytes than exist ends the walk instead of reading past it.
        let mut truncated = doc.clone();
        truncated.truncate(doc.len() - 3);
        assert!(text_by_slide(&truncated, None, Deadline::after(Duration::from_secs(5))).is_ok());
    }

    #[test]
    fn the_notes_masters_prompts_are_not_text_but_a_notes_pages_are() {
        let body = |text: &str| {
            [
                record(0, TEXT_HEADER_ATOM, &2u32.to_le_bytes()), // the notes body
                record(0, TEXT_BYTES_ATOM, text.as_bytes()),
            ]
            .concat()
        };
        let notes = |slide: u32, text: &str| {
            let atom = [slide.to_le_bytes(), [0; 4]].concat();
            record(
                0x000F,
                NOTES,
                &[record(0x0010, NOTES_ATOM, &atom), body(text)].concat(),
            )
        };
        let slide = record(
            0x000F,
            SLIDE_CONTAINER,
            &record(0, TEXT_BYTES_ATOM, b"Fundera"),
        );
        let doc = record(
            0x000F,
            0x03E8,
            &[
                notes(0, "Klikk for å redigere tekststiler i malen\rAndre nivå"),
                notes(0x8000_0000, "Cliquez pour modifier les styles du texte"),
                slide,
                notes(256, "Say this slowly"),
            ]
            .concat(),
        );
        let texts = texts_of(&doc);
        // Notes go with the text outside slides (the leading bucket), the prompt nowhere.
        assert!(texts.master.is_empty(), "{:?}", texts.master);
        assert_eq!(
            texts.slides,
            vec![vec!["Say this slowly".to_string()], vec!["Fundera".into()]]
        );
    }

    #[test]
    fn an_incremental_save_is_read_in_its_newest_version() {
        // The first save's slide text was edited; both versions are in the stream, and
        // the persist directory names the new one.
        let old = record(
            0x000F,
            SLIDE_CONTAINER,
            &record(0, TEXT_BYTES_ATOM, b"draft"),
        );
        let new = record(
            0x000F,
            SLIDE_CONTAINER,
            &record(0, TEXT_BYTES_ATOM, b"final"),
        );
        let (cu, stream, _) = crate::office::ppt_edits::tests::saved_twice(&old, &new);
        let live = live_records(&cu, &stream).expect("live records");
        let deadline = Deadline::after(Duration::from_secs(5));
        let texts = text_by_slide(&stream, Some(&live), deadline).expect("parses");
        assert_eq!(
            texts.slides,
            vec![vec!["list".to_string()], vec!["final".into()]]
        );
        // Without the directory every version is read.
        let texts = text_by_slide(&stream, None, deadline).expect("parses");
        assert_eq!(texts.slides.concat(), ["list", "draft", "final"]);
    }

    #[test]
    fn an_atom_marked_as_a_container_is_skipped_whole() {
        // PowerPoint 2007 writes round-trip records (a theme as a ZIP) with version 0xF;
        // read as records, the ZIP's bytes claimed 390 KB and hid every slide after it.
        let theme = record(0x000F, 0x0428, b"PK\x03\x04\x14\x00\x06\x00 a zipped theme");
        let slide = record(
            0x000F,
            SLIDE_CONTAINER,
            &record(0, TEXT_BYTES_ATOM, b"after the theme"),
        );
        let doc = record(0x000F, 0x03E8, &[theme, slide].concat());
        let texts = texts_of(&doc);
        assert_eq!(
            texts.slides,
            vec![vec![], vec!["after the theme".to_string()]]
        );
    }

    #[test]
    fn a_dual_format_file_is_read_from_its_powerpoint_97_storage() {
        use std::io::Write;
        let slide = record(
            0x000F,
            SLIDE_CONTAINER,
            &record(0, TEXT_BYTES_ATOM, b"saved for 95 and 97"),
        );
        let mut ole = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("create");
        // The root stream is in PowerPoint 95's format, which is not records we read.
        ole.create_stream("/PowerPoint Document")
            .and_then(|mut s| s.write_all(&[0xFF; 64]))
            .expect("write");
        ole.create_storage("/PP97_DUALSTORAGE").expect("storage");
        ole.create_stream("/PP97_DUALSTORAGE/PowerPoint Document")
            .and_then(|mut s| s.write_all(&slide))
            .expect("write");
        ole.flush().expect("flush");
        let bytes = ole.into_inner().into_inner();
        let mut ole = cfb::CompoundFile::open(Cursor::new(bytes.as_slice())).expect("open");
        let doc = extract(
            &mut ole,
            &Limits::default(),
            Deadline::after(Duration::from_secs(5)),
        )
        .expect("extracts");
        assert_eq!(doc.text(), "saved for 95 and 97");
    }
}
