//! How the client shows things: aligned tables for people, JSON for scripts, times in UTC,
//! and the durations and times people type (`2h`, `now`, `2026-12-01T09:00`).

use serde::Serialize;

use super::{ClientError, Failure, Result};

/// Prints `value` as JSON (`--json`) or as the table `rows` under `headers`.
pub fn show<T: Serialize>(json: bool, value: &T, headers: &[&str], rows: Vec<Vec<String>>) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
        return;
    }
    if rows.is_empty() {
        println!("(none)");
        return;
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    if headers.iter().any(|h| !h.is_empty()) {
        line(headers.iter().map(|h| h.to_uppercase()).collect());
    }
    for row in rows {
        line(row);
    }
}

/// A time for people: `2026-11-29 14:05 UTC`.
pub fn when(unix: i64) -> String {
    lab::model::format_utc(unix)
}

/// `90s`, `30m`, `2h`, `1d`, `1h30m` as seconds.
pub fn parse_duration(text: &str) -> Result<i64> {
    let bad = || {
        ClientError::new(
            Failure::Usage,
            format!("'{text}' is not a duration like 90s, 30m, 2h, 1d or 1h30m"),
        )
    };
    let (mut total, mut number) = (0i64, String::new());
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let value: i64 = number.parse().map_err(|_| bad())?;
        total += value * unit;
        number.clear();
    }
    if !number.is_empty() || total <= 0 {
        return Err(bad());
    }
    Ok(total)
}

/// `now`, `2026-12-01T09:00` (UTC) or Unix seconds.
pub fn parse_time(text: &str) -> Result<i64> {
    let text = text.trim();
    if text == "now" {
        return Ok(lab::now());
    }
    if let Ok(unix) = text.parse::<i64>() {
        return Ok(unix);
    }
    lab::model::parse_datetime_local(text.trim_end_matches('Z')).ok_or_else(|| {
        ClientError::new(
            Failure::Usage,
            format!("'{text}' is not a time like now, 2026-12-01T09:00 (UTC) or Unix seconds"),
        )
    })
}

/// `12.0 MiB`.
pub fn bytes(n: u64) -> String {
    lab::model::format_bytes(n as i64)
}

/// A one-line progress bar on stderr, redrawn in place.
pub fn progress(label: &str, done: u64, total: u64, rate: u64) {
    let percent = (done * 100).checked_div(total).unwrap_or(0);
    let filled = (percent as usize) / 5;
    eprint!(
        "\r{label} [{}{}] {percent:>3}% {} of {}{}   ",
        "#".repeat(filled),
        "-".repeat(20 - filled.min(20)),
        bytes(done),
        bytes(total),
        if rate > 0 {
            format!(", {}/s", bytes(rate))
        } else {
            String::new()
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_times_people_type_are_read() {
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("1d").unwrap(), 86_400);
        assert_eq!(parse_duration("45s").unwrap(), 45);
        for bad in ["", "2", "h", "2x", "-1h", "0m"] {
            assert_eq!(
                parse_duration(bad).unwrap_err().failure,
                Failure::Usage,
                "{bad}"
            );
        }
        assert_eq!(
            parse_time("2026-12-01T09:00").unwrap(),
            lab::model::parse_datetime_local("2026-12-01T09:00").unwrap()
        );
        assert_eq!(parse_time("1700000000").unwrap(), 1_700_000_000);
        assert!((parse_time("now").unwrap() - lab::now()).abs() <= 1);
        assert_eq!(parse_time("tomorrow").unwrap_err().failure, Failure::Usage);
    }
}
