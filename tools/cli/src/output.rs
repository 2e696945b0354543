//! Human output: aligned tables, progress bars that show only on a terminal.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use cruddur_core::store::Usage;
use indicatif::{ProgressBar, ProgressStyle};

pub fn print_table(header: &[&str], rows: Vec<Vec<String>>) {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled).set_header(header);
    for row in rows {
        table.add_row(row);
    }
    println!("{table}");
}

/// A progress bar on stderr; indicatif hides it when stderr is not a terminal.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// At most `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r', '\t'], " ");
    match one_line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// One scanned item as (pk, sk, the other attributes as compact JSON).
pub fn item_row(mut item: serde_json::Value) -> Vec<String> {
    let mut take = |key: &str| match item.as_object_mut().and_then(|o| o.remove(key)) {
        Some(serde_json::Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let (pk, sk) = (take("pk"), take("sk"));
    vec![pk, sk, truncate(&item.to_string(), 110)]
}

pub fn capacity_line(usage: Usage) -> String {
    if usage.read_units > 0.0 {
        format!("consumed read capacity: {} units in {} request(s)", usage.read_units, usage.requests)
    } else {
        format!("consumed read capacity: not reported by the server ({} request(s))", usage.requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_flattens_lines() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééééé", 3), "ééé…");
        assert_eq!(truncate("a\nb", 10), "a b");
    }
}
