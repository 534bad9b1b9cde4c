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
/// OfficeArt's shape container, and the atom that makes its shape a placeholder (a
/// master's date, footer and slide-number boxes hold template text of type "other").
const SP_CONTAINER: u16 = 0xF004;
const OE_PLACEHOLDER_ATOM: u16 = 0x0BC3;
/// Comments keep their author, text and initials in CString atoms.
const COMMENT: u16 = 0x2EE0;
const CSTRING: u16 = 0x0FBA;
/// The slide list (`SlideListWithTextContainer`): placeholder text, slide by slide, each
/// slide's run opened by a `SlidePersistAtom` that names it.
const SLIDE_LIST: u16 = 0x0FF0;
const SLIDE_PERSIST_ATOM: u16 = 0x03F3;
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
    // The shape being read (its end), and whether it is a placeholder.
    let mut shape: (usize, bool) = (0, false);
    // The slide list being read (its end) and the slide its current text belongs to.
    let mut slide_list: Option<usize> = None;
    let mut listed_slide: Option<u32> = None;
    let mut listed = HashSet::new();
    let mut pos = 0usize;
    let mut n = 0usize;
    while pos + 8 <= stream.len() {
        n += 1;
        if n.is_multiple_of(4096) {
            deadline.check()?;
        }
        if slide_list.is_some_and(|end| pos >= end) {
            slide_list = None;
            listed_slide = None;
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
            if kind == SLIDE_LIST {
                slide_list = Some(end);
                listed_slide = None;
            }
            if kind == SP_CONTAINER {
                shape = (end, false);
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
        if kind == SLIDE_PERSIST_ATOM && slide_list.is_some() {
            listed_slide = data
                .get(12..16)
                .map(|id| u32::from_le_bytes([id[0], id[1], id[2], id[3]]));
        }
        if kind == TEXT_HEADER_ATOM && data.len() >= 4 {
            text_type = Some(u32::from_le_bytes([data[0], data[1], data[2], data[3]]));
        }
        if kind == OE_PLACEHOLDER_ATOM && pos < shape.0 {
            shape.1 = true;
        }
        // On a master, only text outside placeholders is content.
        let placeholder = shape.1 && pos < shape.0;
        let template =
            master_depth.is_some() && (text_type != Some(TEXT_TYPE_OTHER) || placeholder);
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
            // A master's text shows once; so does other text outside slides (notes), except
            // the slide list's, which shows once per slide it names (several slides may
            // have the same heading; an older save's copy of the list names the same
            // slides). A slide's own shapes show every piece (a table repeats its cells'
            // values), unless it is shown outside slides or on a master; another slide
            // may repeat it.
            let key = |place: usize| (place, trimmed.to_string());
            const MASTER: usize = usize::MAX;
            let fresh = if on_master {
                !seen.contains(&key(0)) && seen.insert(key(MASTER))
            } else if in_slide {
                seen.insert(key(slides.len() - 1));
                !seen.contains(&key(0)) && !seen.contains(&key(MASTER))
            } else if let Some(slide) = listed_slide {
                seen.insert(key(0));
                !seen.contains(&key(MASTER)) && listed.insert((slide, trimmed.to_string()))
            } else {
                !seen.contains(&key(MASTER)) && seen.insert(key(0))
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
#[path = "ppt_tests.rs"]
mod tests;
