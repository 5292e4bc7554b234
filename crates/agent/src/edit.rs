//! `edit_files`: search-and-replace across several files, all or nothing, with a diff.
//!
//! The edit runs in three phases so that a failure leaves every file as it was:
//! 1. plan — resolve each path, read each file once, and apply its edits in request order to an
//!    in-memory copy, checking that every `old_text` occurs (exactly once unless `replace_all`);
//! 2. stage — write each new content to a temporary file beside its target;
//! 3. commit — rename every temporary file over its target.
//!
//! A failure in 1 or 2 changes nothing (staged files are removed). Step 3 is a sequence of
//! renames, each atomic on its own; a rename failing after another succeeded (which needs the
//! directory to become unwritable mid-call) is the one case that leaves a partial edit, and the
//! error says which file failed.
//!
//! Matching is exact. The model is told to copy `old_text` from `read_file`, and an exact match
//! is the only rule that cannot silently edit the wrong place.
//!
//! The diff is computed here too (a line-based longest common subsequence, trimmed of the common
//! head and tail first) so the result shows the model what it changed without another crate.

use std::path::PathBuf;

use crate::FILE_READ_CAP;
use crate::files::{Staged, read_existing_file};
use crate::paths::Confinement;
use crate::{AgentError, EditFilesResponse, FileDiff, FileEdit};

/// Characters of `old_text` quoted back in a "not found" error.
const PREVIEW_CHARS: usize = 120;

/// Lines of unchanged context around each change in the diff.
const CONTEXT: usize = 3;

/// Largest line-by-line table (old lines × new lines, after trimming the common head and tail)
/// the diff computes exactly. Beyond it the changed region is shown as removed-then-added, which
/// is still a correct diff, only a coarser one.
const MAX_LCS_CELLS: usize = 4_000_000;

/// One file's planned change.
struct Planned {
    path: String,
    resolved: PathBuf,
    old: String,
    new: String,
    replacements: u64,
}

pub(crate) fn edit_files(
    c: &Confinement,
    edits: &[FileEdit],
) -> Result<EditFilesResponse, AgentError> {
    if edits.is_empty() {
        return Err(AgentError::invalid(
            "edits is empty; give at least one edit",
        ));
    }

    // Plan. Files are grouped by resolved path, so two spellings of one file edit one copy.
    let mut planned: Vec<Planned> = Vec::new();
    for (index, edit) in edits.iter().enumerate() {
        let number = index + 1;
        if edit.old_text.is_empty() {
            return Err(AgentError::invalid(format!(
                "edit {number} on {:?}: old_text is empty; to create or overwrite a whole file \
                 use write_file",
                edit.path
            )));
        }
        let resolved = c.resolve(&edit.path)?;
        let slot = match planned.iter().position(|p| p.resolved == resolved) {
            Some(slot) => slot,
            None => {
                let (bytes, size) = read_existing_file(&resolved, &edit.path, FILE_READ_CAP)?;
                if size > bytes.len() as u64 {
                    return Err(AgentError::invalid(format!(
                        "{:?} has {size} bytes, more than the {FILE_READ_CAP} bytes edit_files \
                         works on; change it with a command instead. No file was changed.",
                        edit.path
                    )));
                }
                let old = String::from_utf8(bytes).map_err(|_| {
                    AgentError::invalid(format!(
                        "{:?} is not UTF-8 text; edit_files only edits text files",
                        edit.path
                    ))
                })?;
                planned.push(Planned {
                    path: edit.path.clone(),
                    resolved,
                    new: old.clone(),
                    old,
                    replacements: 0,
                });
                planned.len() - 1
            }
        };
        let file = &mut planned[slot];
        let count = file.new.matches(edit.old_text.as_str()).count();
        if count == 0 {
            return Err(AgentError::EditNotFound {
                edit: number,
                path: edit.path.clone(),
                old_text_preview: preview(&edit.old_text),
            });
        }
        if count > 1 && !edit.replace_all {
            return Err(AgentError::EditAmbiguous {
                edit: number,
                path: edit.path.clone(),
                count,
            });
        }
        file.new = file.new.replace(edit.old_text.as_str(), &edit.new_text);
        file.replacements += count as u64;
    }

    // Stage. Unchanged files (every edit replaced text with itself) are not rewritten.
    let mut staged = Vec::new();
    for file in planned.iter().filter(|f| f.old != f.new) {
        let s = Staged::new(&file.resolved, file.new.as_bytes())
            .and_then(|s| {
                c.give_to_owner(&s.temp)?;
                Ok(s)
            })
            .map_err(|e| AgentError::io(format!("writing {:?}", file.path), e))?;
        staged.push((file.path.as_str(), s));
    }

    // Commit.
    for (path, s) in staged {
        s.commit()
            .map_err(|e| AgentError::io(format!("replacing {path:?}"), e))?;
    }

    let files = planned
        .iter()
        .map(|f| FileDiff {
            path: f.path.clone(),
            diff: unified_diff(&f.path, &f.old, &f.new),
            replacements: f.replacements,
        })
        .collect();
    Ok(EditFilesResponse { files })
}

fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Delete,
    Insert,
}

/// A unified diff from `old` to `new` with [`CONTEXT`] lines of context, or the empty string
/// when they are equal.
pub(crate) fn unified_diff(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = diff_ops(&a, &b);

    // Line positions in the old and new file before each op.
    let mut positions = Vec::with_capacity(ops.len() + 1);
    let (mut i, mut j) = (0usize, 0usize);
    for op in &ops {
        positions.push((i, j));
        match op {
            Op::Equal => (i, j) = (i + 1, j + 1),
            Op::Delete => i += 1,
            Op::Insert => j += 1,
        }
    }
    positions.push((i, j));

    let mut out = format!("--- {path}\n+++ {path}\n");
    let mut k = 0;
    let mut previous_end = 0;
    while k < ops.len() {
        if ops[k] == Op::Equal {
            k += 1;
            continue;
        }
        let start = k.saturating_sub(CONTEXT).max(previous_end);
        // Extend over changes separated by at most 2 × CONTEXT equal lines.
        let mut end = k;
        loop {
            while end < ops.len() && ops[end] != Op::Equal {
                end += 1;
            }
            let mut run = end;
            while run < ops.len() && ops[run] == Op::Equal {
                run += 1;
            }
            if run < ops.len() && run - end <= 2 * CONTEXT {
                end = run;
            } else {
                break;
            }
        }
        let stop = (end + CONTEXT).min(ops.len());
        let (old_start, new_start) = positions[start];
        let (old_stop, new_stop) = positions[stop];
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(old_start, old_stop - old_start),
            range(new_start, new_stop - new_start)
        ));
        for (op, &(i, j)) in ops[start..stop].iter().zip(&positions[start..stop]) {
            let (sign, line) = match op {
                Op::Equal => (' ', a[i]),
                Op::Delete => ('-', a[i]),
                Op::Insert => ('+', b[j]),
            };
            out.push(sign);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
        previous_end = stop;
        k = stop;
    }
    out
}

/// A hunk range in unified-diff notation: 1-based start, and for an empty range the line
/// before it.
fn range(start: usize, len: usize) -> String {
    match len {
        0 => format!("{start},0"),
        1 => format!("{}", start + 1),
        _ => format!("{},{len}", start + 1),
    }
}

/// Edit script from `a` to `b`: deletions of a changed region come before its insertions.
fn diff_ops(a: &[&str], b: &[&str]) -> Vec<Op> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);

    let mut ops = vec![Op::Equal; prefix];
    if ma.len().saturating_mul(mb.len()) > MAX_LCS_CELLS {
        ops.extend(std::iter::repeat_n(Op::Delete, ma.len()));
        ops.extend(std::iter::repeat_n(Op::Insert, mb.len()));
    } else {
        // lcs[i][j]: length of the longest common subsequence of ma[i..] and mb[j..].
        let width = mb.len() + 1;
        let mut lcs = vec![0u32; (ma.len() + 1) * width];
        for i in (0..ma.len()).rev() {
            for j in (0..mb.len()).rev() {
                lcs[i * width + j] = if ma[i] == mb[j] {
                    lcs[(i + 1) * width + j + 1] + 1
                } else {
                    lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < ma.len() || j < mb.len() {
            if i < ma.len() && j < mb.len() && ma[i] == mb[j] {
                ops.push(Op::Equal);
                (i, j) = (i + 1, j + 1);
            } else if j == mb.len()
                || (i < ma.len() && lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])
            {
                ops.push(Op::Delete);
                i += 1;
            } else {
                ops.push(Op::Insert);
                j += 1;
            }
        }
    }
    ops.extend(std::iter::repeat_n(Op::Equal, suffix));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(range: std::ops::RangeInclusive<u32>) -> String {
        range.map(|i| format!("{i}\n")).collect()
    }

    /// `lines(1..=n)` with the given line numbers replaced by words.
    fn changed(n: u32, changes: &[(u32, &str)]) -> String {
        (1..=n)
            .map(|i| match changes.iter().find(|(line, _)| *line == i) {
                Some((_, word)) => format!("{word}\n"),
                None => format!("{i}\n"),
            })
            .collect()
    }

    #[test]
    fn single_change_has_context() {
        let old = lines(1..=10);
        let new = changed(10, &[(5, "five")]);
        assert_eq!(
            unified_diff("f", &old, &new),
            "--- f\n+++ f\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn near_changes_merge_and_far_changes_split() {
        let old = lines(1..=30);
        let near = changed(30, &[(5, "five"), (9, "nine")]);
        let d = unified_diff("f", &old, &near);
        assert_eq!(d.matches("@@ -").count(), 1, "{d}");
        let far = changed(30, &[(5, "five"), (25, "twenty-five")]);
        let d = unified_diff("f", &old, &far);
        assert_eq!(d.matches("@@ -").count(), 2, "{d}");
        assert!(d.contains("@@ -22,7 +22,7 @@\n"), "{d}");
    }

    #[test]
    fn insertion_at_start_and_missing_final_newline() {
        assert_eq!(
            unified_diff("f", "a\nb", "x\na\nb"),
            "--- f\n+++ f\n@@ -1,2 +1,3 @@\n+x\n a\n b\n\\ No newline at end of file\n"
        );
        assert_eq!(
            unified_diff("f", "a\n", "a\nb\n"),
            "--- f\n+++ f\n@@ -1 +1,2 @@\n a\n+b\n"
        );
        assert_eq!(
            unified_diff("f", "", "a\n"),
            "--- f\n+++ f\n@@ -0,0 +1 @@\n+a\n"
        );
        assert_eq!(unified_diff("f", "same\n", "same\n"), "");
    }

    #[test]
    fn lcs_keeps_moved_blocks_minimal() {
        let ops = diff_ops(&["a\n", "b\n", "c\n", "d\n"], &["a\n", "c\n", "b\n", "d\n"]);
        let changes = ops.iter().filter(|o| **o != Op::Equal).count();
        assert_eq!(changes, 2);
    }

    #[test]
    fn preview_is_bounded() {
        assert_eq!(preview("short"), "short");
        let long = "é".repeat(500);
        assert_eq!(preview(&long).chars().count(), PREVIEW_CHARS + 1);
    }
}
