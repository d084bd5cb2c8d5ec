//! The CSV rows: one per conversation, its cells computed by the chosen catalogue columns.
//!
//! Pure: takes a parsed conversation, the columns (`columns.rs`, the catalogue) and a name
//! lookup, returns strings. The header is the chosen columns' names, then one column per
//! participant attribute named with `--attribute`, in the order given; an attribute's cell
//! joins the distinct values the participants carry with `;`. The cells of free-text columns
//! (`Column::free_text`) and of attributes go through the formula guard, as `Formulas` says.

use crate::columns::{self, Column, NameOf, SEPARATOR};
use crate::formula::Formulas;
use crate::record::View;
use crate::tz::Zone;

/// One conversation's cells, in `header` order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub cells: Vec<String>,
}

impl Row {
    /// The cells in `header` order.
    #[cfg(test)]
    pub fn fields(&self) -> Vec<&str> {
        self.cells.iter().map(String::as_str).collect()
    }
}

impl<S: Into<String>> FromIterator<S> for Row {
    fn from_iter<I: IntoIterator<Item = S>>(cells: I) -> Row {
        Row {
            cells: cells.into_iter().map(Into::into).collect(),
        }
    }
}

/// The header: the chosen columns, then one per requested attribute.
pub fn header<'a>(columns: &[&'static Column], attributes: &'a [String]) -> Vec<&'a str> {
    columns
        .iter()
        .map(|c| c.name)
        .chain(attributes.iter().map(String::as_str))
        .collect()
}

/// Where `conversation_id` is among the columns: the cell a resumed export reads back (the
/// command line refuses a file export without it).
pub fn id_column(columns: &[&'static Column]) -> usize {
    columns
        .iter()
        .position(|c| c.name == columns::ID_COLUMN)
        .unwrap_or(0)
}

/// Flattens a conversation into the cells of `columns`, then those of `attributes`;
/// `name_of` resolves the ids of name columns where known; `formulas` says whether free-text
/// cells (those of columns marked `free_text`, and attribute values) are guarded; local times
/// in UTC.
#[cfg(test)]
pub fn flatten(
    conversation: &crate::record::Tree,
    columns: &[&'static Column],
    name_of: NameOf,
    attributes: &[String],
    formulas: Formulas,
) -> Row {
    flatten_in(
        conversation.view(),
        columns,
        name_of,
        attributes,
        formulas,
        &crate::tz::UTC,
    )
}

/// `flatten` with the local-time columns in `zone` (`--tz`).
pub fn flatten_in(
    conversation: View,
    columns: &[&'static Column],
    name_of: NameOf,
    attributes: &[String],
    formulas: Formulas,
    zone: &Zone,
) -> Row {
    let fixed = columns
        .iter()
        .map(|c| c.csv_cell(conversation, name_of, formulas, zone));
    let attributes = attributes.iter().map(|name| {
        let values = conversation.participants().iter();
        let cell =
            columns::distinct(values.map(|p| p.attributes.get(name.as_str()).map(|v| v.as_ref())))
                .join(SEPARATOR);
        formulas.apply(cell)
    });
    fixed.chain(attributes).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::sample::{name_of, SAMPLE};
    use crate::record::Conversation;

    fn default() -> Vec<&'static Column> {
        columns::default_columns()
    }

    #[test]
    fn flattening_collects_distinct_values_in_order() {
        let c = crate::record::unchecked(SAMPLE).unwrap();
        let row = flatten(&c, &default(), &name_of, &[], Formulas::Guarded);
        assert_eq!(
            row.fields(),
            [
                "c-1",
                "2024-05-01T09:12:03.512Z",
                "2024-05-01T09:19:47.020Z",
                "inbound",
                "voice;callback",
                "q-1;q-2",
                r#"Support, "Tier 2";"#,
                "u-1;u-2",
                "tel:+15551230000",
                "tel:+18005550100",
                "w-1;ININ-WRAP-UP-TIMEOUT",
                "d-1;d-2",
            ]
        );
        assert_eq!(columns::queue_ids(c.view()), ["q-1", "q-2"]);
    }

    #[test]
    fn an_ongoing_minimal_conversation_has_empty_cells() {
        let c =
            crate::record::unchecked(r#"{"conversationId":"x","conversationStart":"s"}"#).unwrap();
        let row = flatten(&c, &default(), &|_, _| None, &[], Formulas::Guarded);
        assert_eq!(
            row.fields(),
            ["x", "s", "", "", "", "", "", "", "", "", "", ""]
        );
    }

    #[test]
    fn attribute_columns_collect_distinct_values_across_participants() {
        let c = crate::record::unchecked(
            r#"{"conversationId":"x","conversationStart":"s","participants":[
                {"attributes":{"account":"A-1","lang":"de"}},
                {"attributes":{"account":"A-1","note":"a, \"b\""}},
                {"attributes":{"account":"A-2"}}]}"#,
        )
        .unwrap();
        let names = ["account".to_string(), "note".into(), "missing".into()];
        let row = flatten(&c, &default(), &|_, _| None, &names, Formulas::Guarded);
        assert_eq!(row.fields()[12..], ["A-1;A-2", r#"a, "b""#, ""]);
        assert_eq!(row.fields().len(), 15);
        assert_eq!(
            header(&default(), &names)[12..],
            ["account", "note", "missing"]
        );
        let picked = columns::parse("t_talk,conversation_id").unwrap();
        assert_eq!(
            header(&picked, &names),
            ["t_talk", "conversation_id", "account", "note", "missing"]
        );
        assert_eq!(
            flatten(&c, &picked, &|_, _| None, &[], Formulas::Guarded).fields(),
            ["", "x"]
        );
    }

    #[test]
    fn free_text_cells_and_attributes_are_guarded_and_nothing_else() {
        let text = include_str!("../tests/sim/samples/formulas.json");
        let raw = serde_json::value::RawValue::from_string(text.to_string()).unwrap();
        let c = Conversation::read(raw.get()).unwrap();
        let picked = columns::parse(
            "conversation_id,queue_names,user_names,wrap_up_names,external_tag,ani,dnis,t_talk",
        )
        .unwrap();
        let name_of = |_, id: &str| match id.chars().last() {
            Some('1') => Some(format!("={id}")),
            _ => Some("-1".to_string()),
        };
        let attributes = ["note".to_string(), "plain".into()];
        let row = |formulas| flatten(&c, &picked, &name_of, &attributes, formulas);
        assert_eq!(
            row(Formulas::Guarded).fields(),
            [
                "5a000000-0000-4000-8000-000000000007",
                "'=5a000000-0000-4000-8000-00000000a001",
                "'=5a000000-0000-4000-8000-00000000b001",
                "'=5a000000-0000-4000-8000-00000000c001",
                "'-2+3;'=cmd|' /C calc'!A0",
                "+3312345",
                "+18005550100",
                "290000",
                "'=1+1",
                "ok;'@x",
            ]
        );
        assert_eq!(
            row(Formulas::Raw).fields(),
            [
                "5a000000-0000-4000-8000-000000000007",
                "=5a000000-0000-4000-8000-00000000a001",
                "=5a000000-0000-4000-8000-00000000b001",
                "=5a000000-0000-4000-8000-00000000c001",
                "-2+3;=cmd|' /C calc'!A0",
                "+3312345",
                "+18005550100",
                "290000",
                "=1+1",
                "ok;@x",
            ]
        );
    }

    #[test]
    fn csv_quoting_of_commas_quotes_and_unicode() {
        let c = crate::record::unchecked(SAMPLE).unwrap();
        let row = flatten(
            &c,
            &default(),
            &|_, id| match id {
                "q-1" => Some("Kundendienst Düsseldorf".into()),
                _ => Some(r#"Support, "Tier 2""#.into()),
            },
            &[],
            Formulas::Guarded,
        );
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(columns::DEFAULT).unwrap();
        w.write_record(row.fields()).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        let expected = "conversation_id,conversation_start,conversation_end,originating_direction,\
media_types,queue_ids,queue_names,user_ids,ani,dnis,wrap_up_codes,division_ids\n\
c-1,2024-05-01T09:12:03.512Z,2024-05-01T09:19:47.020Z,inbound,voice;callback,q-1;q-2,\
\"Kundendienst Düsseldorf;Support, \"\"Tier 2\"\"\",u-1;u-2,tel:+15551230000,tel:+18005550100,\
w-1;ININ-WRAP-UP-TIMEOUT,d-1;d-2\n";
        assert_eq!(text, expected);
        // And it reads back to the same cells.
        let mut r = csv::Reader::from_reader(text.as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(&rec[6], r#"Kundendienst Düsseldorf;Support, "Tier 2""#);
    }
}
