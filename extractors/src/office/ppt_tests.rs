//! Tests of the PPT reader, on record streams built by hand (`record`).

use super::*;
use std::time::Duration;

fn record(ver_inst: u16, kind: u16, body: &[u8]) -> Vec<u8> {
    let mut out = ver_inst.to_le_bytes().to_vec();
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// A slide whose one text atom holds `text`.
fn slide_of(text: &[u8]) -> Vec<u8> {
    record(0x000F, SLIDE_CONTAINER, &record(0, TEXT_BYTES_ATOM, text))
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
            // Two shapes of one slide that say the same (a table's cells) are both shown.
            record(0, TEXT_BYTES_ATOM, b"second"),
            record(0, TEXT_BYTES_ATOM, b"second"),
        ]
        .concat(),
    );
    let utf16le = |t: &str| -> Vec<u8> { t.encode_utf16().flat_map(u16::to_le_bytes).collect() };
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
    // plain text box (type 4) holds content; a footer placeholder, also of type 4 but a
    // placeholder by its shape's `OEPlaceholderAtom`, holds template text.
    let footer = record(
        0x000F,
        SP_CONTAINER,
        &[
            record(0x000F, 0xF011, &record(0, OE_PLACEHOLDER_ATOM, &[0; 8])),
            record(
                0x000F,
                0xF00D,
                &[
                    record(0, TEXT_HEADER_ATOM, &TEXT_TYPE_OTHER.to_le_bytes()),
                    record(0, TEXT_BYTES_ATOM, b"Author Name, Company"),
                ]
                .concat(),
            ),
        ]
        .concat(),
    );
    let master = record(
        0x000F,
        MAIN_MASTER,
        &[
            record(0, TEXT_HEADER_ATOM, &0u32.to_le_bytes()),
            record(0, TEXT_BYTES_ATOM, b"Click to edit the title text format"),
            footer,
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
    // slides; "second" as often as each slide shows it; a comment keeps its author
    // and text.
    assert_eq!(texts.master, ["ACME confidential"]);
    assert_eq!(
        texts.slides,
        vec![
            vec!["third".to_string(), "Ana".into(), "Fix the date".into()],
            vec!["Résumé".into(), "second".into(), "second".into()],
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
    let slide = slide_of(b"Fundera");
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
    let old = slide_of(b"draft");
    let new = slide_of(b"final");
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
    let slide = slide_of(b"after the theme");
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
    let slide = slide_of(b"saved for 95 and 97");
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

#[test]
fn the_slide_lists_text_shows_once_per_slide_it_names() {
    let persist = |id: u32| {
        let mut body = vec![0u8; 20];
        body[12..16].copy_from_slice(&id.to_le_bytes());
        record(0, SLIDE_PERSIST_ATOM, &body)
    };
    let list = |entries: &[(u32, &[u8])]| {
        let body: Vec<u8> = entries
            .iter()
            .flat_map(|(id, text)| [persist(*id), record(0, TEXT_BYTES_ATOM, text)].concat())
            .collect();
        record(0x000F, SLIDE_LIST, &body)
    };
    // Two slides with one heading; an older save's copy of the list names them again.
    let stream = [
        list(&[(256, b"Agenda"), (257, b"Agenda"), (257, b"Costs")]),
        list(&[(256, b"Agenda")]),
    ]
    .concat();
    assert_eq!(
        texts_of(&stream).slides,
        vec![vec!["Agenda", "Agenda", "Costs"]]
    );
}
