//! Excel number formats, for the common cases: cells rendered the way the spreadsheet shows
//! them (`$1,599.99`, `3%`, `10/3/09`, `6:15 PM`) rather than as raw values. Unknown or
//! exotic formats fall back to the plain rendering.

use chrono::{Datelike, NaiveDateTime, Timelike};

/// The format code of a built-in format id (ECMA-376 18.8.30), for the ids that matter.
pub(crate) fn builtin(id: u32) -> Option<&'static str> {
    Some(match id {
        1 => "0",
        2 => "0.00",
        3 => "#,##0",
        4 => "#,##0.00",
        9 => "0%",
        10 => "0.00%",
        11 => "0.00E+00",
        12 => "# ?/?",
        13 => "# ??/??",
        14 => "m/d/yy",
        15 => "d-mmm-yy",
        16 => "d-mmm",
        17 => "mmm-yy",
        18 => "h:mm AM/PM",
        19 => "h:mm:ss AM/PM",
        20 => "h:mm",
        21 => "h:mm:ss",
        22 => "m/d/yy h:mm",
        37 => "#,##0 ;(#,##0)",
        38 => "#,##0 ;[Red](#,##0)",
        39 => "#,##0.00;(#,##0.00)",
        40 => "#,##0.00;[Red](#,##0.00)",
        45 => "mm:ss",
        46 => "[h]:mm:ss",
        47 => "mm:ss.0",
        48 => "##0.0E+0",
        49 => "@",
        _ => return None,
    })
}

/// Splits on `;` outside quotes.
fn sections(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut chars = code.chars();
    while let Some(c) = chars.next() {
        match c {
            ';' if !quoted => out.push(std::mem::take(&mut current)),
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            '\\' => {
                current.push(c);
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            c => current.push(c),
        }
    }
    out.push(current);
    out
}

/// One section split into (literal text before, the numeric or date pattern, literal after);
/// brackets (`[Red]`, `[$€-407]` → `€`), padding `_x` and fill `*x` removed.
fn clean(section: &str) -> String {
    let mut out = String::new();
    let mut chars = section.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '[' => {
                let inner: String = chars.by_ref().take_while(|&c| c != ']').collect();
                if let Some(sym) = inner.strip_prefix('$') {
                    out.push_str(sym.split('-').next().unwrap_or(""));
                }
            }
            '_' | '*' => {
                chars.next();
            }
            '\\' => {
                if let Some(n) = chars.next() {
                    out.push('"');
                    out.push(n);
                    out.push('"');
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn is_date_code(code: &str) -> bool {
    let mut quoted = false;
    for c in code.chars() {
        match c {
            '"' => quoted = !quoted,
            'y' | 'd' | 'h' | 's' | 'Y' | 'D' | 'H' | 'S' if !quoted => return true,
            'm' | 'M' if !quoted => return true,
            _ => {}
        }
    }
    false
}

fn group(int: u64) -> String {
    let digits = int.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Renders `value` with a numeric section (no date tokens).
/// `mantissa` and `exponent` are the pattern's parts around `E` (`0.00` and `+00`).
fn scientific(value: f64, mantissa: &str, exponent: &str) -> String {
    let decimals = mantissa.split_once('.').map_or(0, |(_, d)| {
        d.chars().filter(|c| matches!(c, '0' | '#' | '?')).count()
    });
    let width = exponent.chars().filter(|c| *c == '0').count().max(1);
    let rendered = format!("{value:.decimals$e}");
    let (m, e) = rendered.split_once('e').unwrap_or((&rendered, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let sign = if e < 0 {
        "-"
    } else if exponent.starts_with('+') {
        "+"
    } else {
        ""
    };
    format!("{m}E{sign}{:0width$}", e.abs())
}

/// A fraction section (`# ?/?`, `# ??/16`, `?/?`), as Excel and Apache POI print it: the
/// whole part when the section has one, then the fraction, over the fixed denominator
/// (`?/16`: the nearest sixteenth, not reduced) or as the last continued-fraction convergent
/// of the value whose denominator has at most as many digits as the section's (`??/??`:
/// 0.93 → 40/43). `None` for a section with no `/` outside quotes (or one we do not read).
fn fraction(value: f64, section: &str) -> Option<String> {
    let chars = unquoted(section);
    let slash = chars.iter().position(|&(c, q)| c == '/' && !q)?;
    let placeholder = |i: usize| matches!(chars[i], ('?' | '#' | '0', false));
    let mut num_start = slash;
    while num_start > 0 && placeholder(num_start - 1) {
        num_start -= 1;
    }
    if num_start == slash {
        return None;
    }
    // The whole part and the fraction are apart by a space, written as it is, escaped
    // (`#\ ?/?`) or quoted.
    let mut gap = num_start;
    while gap > 0 && chars[gap - 1].0 == ' ' {
        gap -= 1;
    }
    let mut int_start = gap;
    while int_start > 0 && (placeholder(int_start - 1) || chars[int_start - 1] == (',', false)) {
        int_start -= 1;
    }
    let whole_part = int_start < gap && gap < num_start;
    let literal_end = if whole_part { int_start } else { num_start };
    let mut end = slash + 1;
    let denominator = if chars
        .get(end)
        .is_some_and(|&(c, q)| !q && ('1'..='9').contains(&c))
    {
        let mut digits = String::new();
        while let Some(&(c, false)) = chars.get(end).filter(|(c, _)| c.is_ascii_digit()) {
            digits.push(c);
            end += 1;
        }
        Denominator::Fixed(digits.parse().ok()?)
    } else {
        let start = end;
        while end < chars.len() && placeholder(end) {
            end += 1;
        }
        if end == start {
            return None;
        }
        Denominator::Digits(u32::try_from(end - start).ok()?.min(9))
    };
    let literal = |range: &[(char, bool)]| range.iter().map(|&(c, _)| c).collect::<String>();
    let (prefix, suffix) = (literal(&chars[..literal_end]), literal(&chars[end..]));

    let v = value.abs();
    if !v.is_finite() {
        return None;
    }
    let (mut whole, part) = if whole_part {
        (v.floor(), v - v.floor())
    } else {
        (0.0, v)
    };
    let (mut n, d) = match denominator {
        // Excel rounds half away from zero.
        Denominator::Fixed(d) => ((part * f64::from(d)).round() as u64, u64::from(d)),
        Denominator::Digits(digits) => convergent(part, 10u64.pow(digits) - 1),
    };
    if whole_part && n > 0 && n == d {
        whole += 1.0;
        n = 0;
    }
    let body = match (n, whole > 0.0) {
        (0, _) => format!("{whole:.0}"),
        (_, true) => format!("{whole:.0} {n}/{d}"),
        (_, false) => format!("{n}/{d}"),
    };
    Some(format!("{prefix}{body}{suffix}"))
}

/// The denominator of a fraction section: a fixed number, or at most this many digits.
enum Denominator {
    Fixed(u32),
    Digits(u32),
}

/// The last convergent `n/d` of `x`'s continued fraction with `d ≤ max` (Apache Commons
/// Math's rule, which POI uses): convergents in floating point, as they do, so that a value
/// such as 0.9 (a double a hair above nine tenths) gives what they give.
fn convergent(x: f64, max: u64) -> (u64, u64) {
    let (mut p0, mut q0, mut p1, mut q1) = (1u64, 0u64, x.floor() as u64, 1u64);
    let mut r = x;
    for _ in 0..100 {
        let f = r - r.floor();
        if f == 0.0 {
            break;
        }
        r = 1.0 / f;
        let a = r.floor();
        if !a.is_finite() || a > 1e15 {
            break;
        }
        let a = a as u64;
        let (Some(p2), Some(q2)) = (
            a.checked_mul(p1).and_then(|v| v.checked_add(p0)),
            a.checked_mul(q1).and_then(|v| v.checked_add(q0)),
        ) else {
            break;
        };
        if q2 > max {
            break;
        }
        (p0, q0, p1, q1) = (p1, q1, p2, q2);
        if (p1 as f64 / q1 as f64 - x).abs() < 1e-15 {
            break;
        }
    }
    (p1, q1)
}

/// The characters of a section with whether each was inside quotes (quotes dropped).
fn unquoted(section: &str) -> Vec<(char, bool)> {
    let mut out = Vec::new();
    let mut quoted = false;
    for c in section.chars() {
        if c == '"' {
            quoted = !quoted;
        } else {
            out.push((c, quoted));
        }
    }
    out
}

fn number(value: f64, section: &str) -> Option<String> {
    let mut prefix = String::new();
    let mut suffix = String::new();
    let mut pattern = String::new();
    let mut quoted = false;
    let mut in_pattern = false;
    let mut after = false;
    for c in section.chars() {
        if c == '"' {
            quoted = !quoted;
            continue;
        }
        let is_pat = !quoted
            && matches!(
                c,
                '0' | '#' | '?' | ',' | '.' | '%' | 'E' | 'e' | '+' | '-' | '/'
            );
        if is_pat && !after {
            in_pattern = true;
            pattern.push(c);
        } else if in_pattern || after {
            after = true;
            if is_pat && c == '%' {
                pattern.push(c);
            } else {
                suffix.push(c);
            }
        } else {
            prefix.push(c);
        }
    }
    if section.contains('?') || section.contains('/') {
        return None; // fractions: fall back
    }
    if let Some(at) = pattern.to_ascii_uppercase().find('E') {
        return Some(format!(
            "{prefix}{}{suffix}",
            scientific(value.abs(), &pattern[..at], &pattern[at + 1..])
        ));
    }
    let percent = pattern.contains('%');
    let v = if percent { value * 100.0 } else { value };
    let decimals = pattern.split_once('.').map_or(0, |(_, d)| {
        d.chars().filter(|c| matches!(c, '0' | '#' | '?')).count()
    });
    let grouped = pattern
        .split_once('.')
        .map_or(pattern.as_str(), |(i, _)| i)
        .contains(',');
    // Excel rounds half away from zero; `format!` alone would round half to even.
    let scale = 10f64.powi(decimals as i32);
    let rounded = format!("{:.*}", decimals, (v.abs() * scale).round() / scale);
    let (int, frac) = rounded.split_once('.').unwrap_or((&rounded, ""));
    let int: u64 = int.parse().ok()?;
    let mut out = prefix;
    out.push_str(&if grouped { group(int) } else { int.to_string() });
    if decimals > 0 {
        out.push('.');
        out.push_str(frac);
    }
    if percent {
        out.push('%');
    }
    out.push_str(&suffix);
    Some(out)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Renders a date/time section.
fn date(dt: NaiveDateTime, section: &str) -> String {
    let lower = section.to_ascii_lowercase();
    let ampm = lower.contains("am/pm");
    let chars: Vec<char> = section.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut quoted = false;
    let mut last_was_hour = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            quoted = !quoted;
            i += 1;
            continue;
        }
        if quoted {
            out.push(c);
            i += 1;
            continue;
        }
        let lc = c.to_ascii_lowercase();
        let run = chars[i..]
            .iter()
            .take_while(|x| x.to_ascii_lowercase() == lc)
            .count();
        match lc {
            'y' => {
                out.push_str(&if run <= 2 {
                    format!("{:02}", dt.year() % 100)
                } else {
                    dt.year().to_string()
                });
            }
            'm' => {
                // Minutes right after hours or before seconds; months otherwise.
                let next_is_s = chars[i + run..]
                    .iter()
                    .find(|x| x.is_ascii_alphabetic())
                    .is_some_and(|x| x.eq_ignore_ascii_case(&'s'));
                if (last_was_hour || next_is_s) && run <= 2 {
                    out.push_str(&if run == 2 {
                        format!("{:02}", dt.minute())
                    } else {
                        dt.minute().to_string()
                    });
                } else {
                    let m = dt.month() as usize;
                    out.push_str(&match run {
                        1 => m.to_string(),
                        2 => format!("{m:02}"),
                        3 => MONTHS[m - 1][..3].to_string(),
                        _ => MONTHS[m - 1].to_string(),
                    });
                }
            }
            'd' => {
                let d = dt.day();
                out.push_str(&match run {
                    1 => d.to_string(),
                    2 => format!("{d:02}"),
                    3 => DAYS[dt.weekday().num_days_from_monday() as usize][..3].to_string(),
                    _ => DAYS[dt.weekday().num_days_from_monday() as usize].to_string(),
                });
            }
            'h' => {
                let mut h = dt.hour();
                if ampm {
                    h %= 12;
                    if h == 0 {
                        h = 12;
                    }
                }
                out.push_str(&if run >= 2 {
                    format!("{h:02}")
                } else {
                    h.to_string()
                });
            }
            's' => out.push_str(&if run >= 2 {
                format!("{:02}", dt.second())
            } else {
                dt.second().to_string()
            }),
            'a' if lower[i..].starts_with("am/pm") => {
                out.push_str(if dt.hour() < 12 { "AM" } else { "PM" });
                i += 5;
                continue;
            }
            _ => out.push(c),
        }
        if lc.is_ascii_alphabetic() {
            last_was_hour = lc == 'h';
        }
        i += run;
    }
    out
}

/// Renders a numeric cell (`value`, and `datetime` when the cell holds a date serial) with a
/// format code; `None` means "use the plain rendering".
pub(crate) fn render(value: f64, datetime: Option<NaiveDateTime>, code: &str) -> Option<String> {
    if code.is_empty() || code.eq_ignore_ascii_case("general") || code == "@" {
        return None;
    }
    let secs = sections(code);
    let (section, v) = if value < 0.0 && secs.len() > 1 {
        (secs[1].clone(), value.abs())
    } else if value == 0.0 && secs.len() > 2 {
        (secs[2].clone(), value)
    } else {
        (secs[0].clone(), value)
    };
    let section = clean(&section);
    if is_date_code(&section) {
        return datetime.map(|dt| date(dt, &section));
    }
    let mut out = match fraction(v, &section) {
        Some(f) => f,
        None => number(v, &section)?,
    };
    if value < 0.0 && secs.len() == 1 {
        out.insert(0, '-');
    }
    Some(out)
}

/// A number in the General format (a cell with no format, or one we do not understand):
/// whole numbers print without a fraction, others with the shortest exact representation.
/// Here rather than in `sheet` because `biff` (Excel 2–4 worksheets) renders numbers too,
/// and `sheet` already uses `biff`.
pub(crate) fn render_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else if f.is_finite() && f.abs() >= 1e15 {
        // Excel shows 15 significant digits at most: larger numbers in E notation.
        let s = format!("{f:.14e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = if m.contains('.') {
            m.trim_end_matches('0').trim_end_matches('.')
        } else {
            m
        };
        format!("{m}E+{:02}", e.parse::<i32>().unwrap_or(0))
    } else if f.is_finite() && f != 0.0 && f.abs() < 1e-10 {
        // Too small for ten decimals: a spreadsheet shows it in E notation (3E-104), not 0.
        let s = format!("{f:.5e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let m = m.trim_end_matches('0').trim_end_matches('.');
        format!("{m}E-{:02}", e.parse::<i32>().unwrap_or(0).abs())
    } else {
        let s = format!("{f}");
        // Binary floating point noise ("0.30000000000000004") as a spreadsheet would show it.
        if s.len() > 15 && f.is_finite() {
            let rounded = format!("{f:.10}");
            rounded
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|d| d.and_hms_opt(h, mi, 0))
            .expect("valid")
    }

    #[test]
    fn common_formats_render_like_the_spreadsheet() {
        let check = |v: f64, code: &str, want: &str| {
            assert_eq!(render(v, None, code).as_deref(), Some(want), "{code}")
        };
        check(1599.99, "#,##0.00", "1,599.99");
        check(
            1599.99,
            "\"$\"#,##0.00_);[Red]\\(\"$\"#,##0.00\\)",
            "$1,599.99",
        );
        check(
            -1599.99,
            "\"$\"#,##0.00_);[Red]\\(\"$\"#,##0.00\\)",
            "($1,599.99)",
        );
        check(0.025, "0%", "3%");
        check(0.025, "0.00%", "2.50%");
        check(1234.5, "[$€-407]#,##0.00", "€1,234.50");
        check(-7.0, "0", "-7");
        check(198356388.0, "0.00E+00", "1.98E+08");
        check(-198356388.0, "0.00E+00", "-1.98E+08");
        check(0.000123, "0.0E+0", "1.2E-4");
        // Fractions, as POI prints them (its test workbook 54686_fraction_formats.xls).
        check(2.5, "# ?/?", "2 1/2");
        check(-0.93, "# ??/??", "-40/43");
        check(-0.91, "# ??/??", "-81/89");
        check(-0.9, "# ?/?", "-8/9");
        check(-1.05, "# ??/16", "-1 1/16");
        check(-1.05, "# ??/100", "-1 5/100");
        check(-1.05, "# ?/10", "-1 1/10");
        check(-0.99, "# ?/2", "-1");
        check(-0.12, "# ?/2", "-0");
        check(0.0004629633, "# ?/?", "0");
        check(-1.05, "#\\ ??/16", "-1 1/16");
        check(2.5, "#\" \"?/2", "2 1/2");
        check(0.0004629633, "# ????/????", "1/2160");
        check(1.75, "?/?", "7/4");
        check(2.5, "# ?/? \"in\"", "2 1/2 in");
        assert_eq!(render(5.0, None, "General"), None);
        let dt = at(2009, 10, 3, 18, 15);
        let date = |code: &str| render(40089.76, Some(dt), code).expect(code);
        assert_eq!(date("m/d/yy"), "10/3/09");
        assert_eq!(date("d-mmm-yy"), "3-Oct-09");
        assert_eq!(date("h:mm AM/PM"), "6:15 PM");
        assert_eq!(date("h:mm"), "18:15");
        assert_eq!(date("m/d/yy h:mm"), "10/3/09 18:15");
        assert_eq!(date("yyyy-mm-dd"), "2009-10-03");
    }

    #[test]
    fn numbers_render_as_people_read_them() {
        assert_eq!(render_float(12.0), "12");
        assert_eq!(render_float(-3.5), "-3.5");
        assert_eq!(render_float(0.1 + 0.2), "0.3");
        // Like Excel: 15 significant digits, E notation from 10^15 on.
        assert_eq!(render_float(123456789012345.0), "123456789012345");
        assert_eq!(render_float(1234567890123450.0), "1.23456789012345E+15");
        assert_eq!(render_float(-1e20), "-1E+20");
        assert_eq!(render_float(3e-104), "3E-104");
        assert_eq!(render_float(-1.234567e-12), "-1.23457E-12");
        assert_eq!(render_float(0.000123), "0.000123");
    }
}
