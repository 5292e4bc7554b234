//! Server-sent events, parsed in place from the response body's chunks.
//!
//! A provider streams one small event per token (`data: {...}\n\n`), and a chunk read from the
//! socket nearly always holds whole events. Such an event is handed to the decoder as slices of
//! the chunk: no copy, no allocation. Only what a chunk leaves unfinished (a line cut by the
//! read, an event whose blank line has not arrived) is copied, into buffers that are reused.
//! (`eventsource_stream`, used before, copied every chunk into a `String` and built an owned
//! event with four more `String`s per token: ~7 % of the server's CPU per streamed token,
//! issue 18; `AGENTRY_BENCH_BEFORE=llm-sse` still uses it.)
//!
//! The rules are the event-stream interpretation of the HTML standard
//! (<https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation>):
//! - a line ends with LF, CRLF or CR (a CR at the end of a chunk ends its line; an LF starting
//!   the next chunk is then the rest of that CRLF, not an empty line);
//! - a UTF-8 byte order mark at the very start of the stream is skipped;
//! - a line starting with `:` is a comment;
//! - `field:value` with at most one space after the colon removed; a line without a colon is a
//!   field with an empty value;
//! - `data` lines are joined with LF; `event` sets the event's type (`message` when absent or
//!   empty); `id`, `retry` and unknown fields are ignored (nothing here reconnects);
//! - an empty line dispatches the event if it had at least one `data` line (an empty `data`
//!   line counts), and resets data and type either way;
//! - an event not ended by an empty line when the stream ends is dropped.
//!
//! The stream must be UTF-8; a line that is not is an error (as it was with
//! `eventsource_stream`), not replaced characters: a provider's JSON would be damaged anyway.

use crate::LlmError;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The parser's state between chunks.
#[derive(Default)]
pub(crate) struct SseParser {
    /// The start of a line the last chunk did not finish.
    partial: Vec<u8>,
    /// The last chunk ended with CR: an LF starting the next one belongs to it.
    skip_lf: bool,
    /// A line was seen (so a BOM is no longer skipped).
    started: bool,
    /// The data lines of the event being built, joined, as far as they were copied.
    data: String,
    has_data: bool,
    /// Its type, as far as it was copied; empty means `message`.
    event: String,
}

/// The current event's fields still borrowed from the chunk being parsed.
#[derive(Default)]
struct Borrowed<'a> {
    /// The event's only data line so far (so `SseParser::data` is empty).
    data: Option<&'a str>,
    /// Its type, set after anything copied to `SseParser::event`.
    event: Option<&'a str>,
}

impl SseParser {
    /// Parses one chunk of the body, calling `on_event(type, data)` for each event it completes,
    /// in order, until `on_event` returns `false` (the decoder is done) or fails.
    pub(crate) fn feed(
        &mut self,
        mut chunk: &[u8],
        mut on_event: impl FnMut(&str, &str) -> Result<bool, LlmError>,
    ) -> Result<(), LlmError> {
        if chunk.is_empty() {
            return Ok(());
        }
        if std::mem::take(&mut self.skip_lf) && chunk[0] == b'\n' {
            chunk = &chunk[1..];
        }
        // A line begun in an earlier chunk: finish it from this one, then parse it as owned.
        if !self.partial.is_empty() {
            let Some((end, next)) = line_end(chunk) else {
                self.partial.extend_from_slice(chunk);
                return Ok(());
            };
            self.skip_lf = next == chunk.len() && chunk[end] == b'\r';
            let mut line = std::mem::take(&mut self.partial);
            line.extend_from_slice(&chunk[..end]);
            chunk = &chunk[next..];
            let parsed = self.owned_line(&line);
            line.clear();
            self.partial = line;
            parsed?;
        }
        let mut borrowed = Borrowed::default();
        while let Some((end, next)) = line_end(chunk) {
            self.skip_lf = next == chunk.len() && chunk[end] == b'\r';
            let line = &chunk[..end];
            chunk = &chunk[next..];
            if !self.borrowed_line(line, &mut borrowed, &mut on_event)? {
                return Ok(());
            }
        }
        // The event goes on in the next chunk: keep what this one said of it.
        if let Some(data) = borrowed.data {
            self.data.push_str(data);
        }
        if let Some(event) = borrowed.event {
            self.event.clear();
            self.event.push_str(event);
        }
        self.partial.extend_from_slice(chunk);
        Ok(())
    }

    /// A line of the chunk being parsed; fields that are not dispatched within the chunk stay
    /// borrowed in `borrowed` until the chunk's end.
    fn borrowed_line<'a>(
        &mut self,
        line: &'a [u8],
        borrowed: &mut Borrowed<'a>,
        on_event: &mut impl FnMut(&str, &str) -> Result<bool, LlmError>,
    ) -> Result<bool, LlmError> {
        let line = self.strip_bom(line);
        let Some((field, value)) = split_field(line)? else {
            return Ok(true);
        };
        match field {
            "" => {
                if !self.has_data {
                    self.event.clear();
                    *borrowed = Borrowed::default();
                    return Ok(true);
                }
                let data = borrowed.data.take().unwrap_or(&self.data);
                let event = borrowed.event.take().unwrap_or(&self.event);
                let go_on = on_event(if event.is_empty() { "message" } else { event }, data);
                self.reset();
                go_on
            }
            "data" => {
                if !self.has_data {
                    borrowed.data = Some(value);
                } else {
                    if let Some(first) = borrowed.data.take() {
                        self.data.push_str(first);
                    }
                    self.data.push('\n');
                    self.data.push_str(value);
                }
                self.has_data = true;
                Ok(true)
            }
            "event" => {
                borrowed.event = Some(value);
                Ok(true)
            }
            _ => Ok(true),
        }
    }

    /// A line assembled from two or more chunks: its fields are copied at once.
    /// Never a dispatch: a line left partial had content (only a BOM, at most, which leaves
    /// nothing to dispatch at the stream's start).
    fn owned_line(&mut self, line: &[u8]) -> Result<(), LlmError> {
        let line = self.strip_bom(line);
        match split_field(line)? {
            Some(("data", value)) => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            Some(("event", value)) => {
                self.event.clear();
                self.event.push_str(value);
            }
            _ => {}
        }
        Ok(())
    }

    fn strip_bom<'a>(&mut self, line: &'a [u8]) -> &'a [u8] {
        if std::mem::replace(&mut self.started, true) {
            line
        } else {
            line.strip_prefix(BOM).unwrap_or(line)
        }
    }

    fn reset(&mut self) {
        self.data.clear();
        self.event.clear();
        self.has_data = false;
    }
}

/// The end of the first line in `bytes` and where the next one starts: after LF, CR or CRLF.
/// A CR that ends `bytes` ends the line (the caller skips an LF that may start the next chunk).
fn line_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let end = bytes.iter().position(|&b| b == b'\n' || b == b'\r')?;
    let next = if bytes[end] == b'\r' && bytes.get(end + 1) == Some(&b'\n') { end + 2 } else { end + 1 };
    Some((end, next))
}

/// A line's field name and value (`""` for an empty line), or `None` for a comment.
fn split_field(line: &[u8]) -> Result<Option<(&str, &str)>, LlmError> {
    if line.first() == Some(&b':') {
        return Ok(None);
    }
    let line = std::str::from_utf8(line)
        .map_err(|e| LlmError::Decode(format!("the event stream is not UTF-8: {e}")))?;
    Ok(Some(match line.split_once(':') {
        Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
        None => (line, ""),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event of `chunks`, fed one after another, as `(type, data)`.
    fn parse(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser
                .feed(chunk, |event, data| {
                    out.push((event.to_string(), data.to_string()));
                    Ok(true)
                })
                .unwrap();
        }
        out
    }

    fn ev(event: &str, data: &str) -> (String, String) {
        (event.to_string(), data.to_string())
    }

    /// `text` fed whole and cut at every byte position (two chunks) and byte by byte: the events
    /// must not depend on where the reads split the stream.
    fn parse_every_split(text: &[u8]) -> Vec<(String, String)> {
        let whole = parse(&[text]);
        for cut in 0..=text.len() {
            assert_eq!(parse(&[&text[..cut], &text[cut..]]), whole, "cut at {cut} of {:?}", String::from_utf8_lossy(text));
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(parse(&bytes), whole, "byte by byte");
        whole
    }

    #[test]
    fn a_data_line_and_an_empty_line_make_a_message() {
        assert_eq!(parse_every_split(b"data: {\"a\":1}\n\n"), vec![ev("message", "{\"a\":1}")]);
    }

    #[test]
    fn lines_end_with_lf_crlf_or_cr() {
        for text in [&b"data: a\n\ndata: b\n\n"[..], b"data: a\r\n\r\ndata: b\r\n\r\n", b"data: a\r\rdata: b\r\r", b"data: a\r\n\rdata: b\n\r\n"] {
            assert_eq!(parse_every_split(text), vec![ev("message", "a"), ev("message", "b")], "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn a_crlf_split_by_the_chunks_is_one_line_end() {
        // Were the LF read as a line of its own, the event would be dispatched early (here:
        // before its second data line).
        assert_eq!(parse(&[b"data: a\r", b"\ndata: b\r\n\r\n"]), vec![ev("message", "a\nb")]);
        assert_eq!(parse(&[b"data: a\r\n\r", b"\n", b"data: b\n\n"]), vec![ev("message", "a"), ev("message", "b")]);
        // Two CRs are two line ends: the second dispatches.
        assert_eq!(parse(&[b"data: a\r", b"\r", b"\n"]), vec![ev("message", "a")]);
    }

    #[test]
    fn at_most_one_space_after_the_colon_is_removed() {
        assert_eq!(
            parse_every_split(b"data:a\n\ndata: b\n\ndata:  c\n\ndata:\tc\n\n"),
            vec![ev("message", "a"), ev("message", "b"), ev("message", " c"), ev("message", "\tc")]
        );
    }

    #[test]
    fn data_lines_are_joined_with_lf() {
        assert_eq!(parse_every_split(b"data: one\ndata:\ndata: three\n\n"), vec![ev("message", "one\n\nthree")]);
    }

    #[test]
    fn an_empty_data_line_is_an_event_and_no_data_line_is_none() {
        assert_eq!(parse_every_split(b"data\n\ndata:\n\n"), vec![ev("message", ""), ev("message", "")]);
        assert_eq!(parse_every_split(b"event: ping\n\n\n\nid: 3\n\n"), vec![]);
    }

    #[test]
    fn the_event_field_names_the_type_until_the_dispatch() {
        assert_eq!(
            parse_every_split(b"event: content_block_delta\ndata: {}\n\ndata: x\n\nevent:\ndata: y\n\nevent: a\nevent: b\ndata: z\n\n"),
            vec![ev("content_block_delta", "{}"), ev("message", "x"), ev("message", "y"), ev("b", "z")]
        );
        // A type without data is reset by the empty line, not carried to the next event.
        assert_eq!(parse_every_split(b"event: ping\n\ndata: x\n\n"), vec![ev("message", "x")]);
    }

    #[test]
    fn comments_and_other_fields_are_ignored() {
        assert_eq!(
            parse_every_split(b": OPENROUTER PROCESSING\n\n:\nid: 7\nretry: 10\nfoo: bar\ndata: x\n: mid-event\ndata: y\n\n"),
            vec![ev("message", "x\ny")]
        );
    }

    #[test]
    fn a_bom_is_skipped_only_at_the_start() {
        assert_eq!(parse_every_split(b"\xEF\xBB\xBFdata: a\n\n"), vec![ev("message", "a")]);
        // Later, the BOM is part of the field name: an unknown field.
        assert_eq!(parse_every_split(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"), vec![ev("message", "a")]);
    }

    #[test]
    fn an_event_without_its_empty_line_is_dropped_at_the_end() {
        assert_eq!(parse_every_split(b"data: a\n\ndata: b\n"), vec![ev("message", "a")]);
        assert_eq!(parse_every_split(b"data: a\n\ndata: b"), vec![ev("message", "a")]);
    }

    #[test]
    fn multi_byte_characters_may_be_cut_by_the_chunks() {
        assert_eq!(parse_every_split("data: ⟨1⟩ é\n\n".as_bytes()), vec![ev("message", "⟨1⟩ é")]);
    }

    #[test]
    fn a_line_that_is_not_utf8_is_an_error() {
        let mut parser = SseParser::default();
        let err = parser.feed(b"data: \xFF\n\n", |_, _| Ok(true)).unwrap_err();
        assert!(matches!(err, LlmError::Decode(_)), "{err:?}");
    }

    #[test]
    fn parsing_stops_when_the_consumer_is_done_or_fails() {
        let mut parser = SseParser::default();
        let mut seen = Vec::new();
        parser
            .feed(b"data: a\n\ndata: b\n\ndata: c\n\n", |_, data| {
                seen.push(data.to_string());
                Ok(data != "b")
            })
            .unwrap();
        assert_eq!(seen, ["a", "b"]);
        let err = SseParser::default().feed(b"data: a\n\n", |_, _| Err(LlmError::Decode("bad".into()))).unwrap_err();
        assert!(matches!(err, LlmError::Decode(m) if m == "bad"));
    }

    #[test]
    fn events_are_the_same_as_eventsource_streams() {
        // The crate used before, on the fixtures above and a provider-shaped stream, whole and
        // byte by byte. Not with a BOM: `eventsource_stream` 0.2.3 panics on one (it slices
        // one byte off a three-byte character).
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        let anthropic = b"event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\nevent: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n: c\r\nevent: content_block_delta\r\ndata: {\"delta\":{\"text\":\"hi\"}}\r\n\r\n";
        let texts: [&[u8]; 6] = [
            anthropic,
            b"data: {\"choices\":[]}\n\ndata: [DONE]\n\n",
            b"data: one\ndata:\ndata: three\n\nevent: x\n\ndata\n\n",
            b"data:a\r\rdata:  b\r\n\r\n",
            b": c\nfoo\ndata: x\n: mid\ndata: y\n\n",
            b"data: a\n\ndata: tail\n",
        ];
        for text in texts {
            for chunks in [vec![text], text.chunks(1).collect::<Vec<_>>()] {
                let owned: Vec<Result<Vec<u8>, std::io::Error>> = chunks.iter().map(|c| Ok(c.to_vec())).collect();
                let theirs: Vec<(String, String)> = futures::executor::block_on(
                    futures::stream::iter(owned).eventsource().map(|e| e.map(|e| (e.event, e.data)).unwrap()).collect(),
                );
                assert_eq!(parse(&chunks), theirs, "{:?}", String::from_utf8_lossy(text));
            }
        }
    }
}
