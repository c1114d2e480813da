//! Tokens with spans. Lexing never fails: an unknown character becomes an `Error` token
//! that the parser reports.

use crate::Span;

/// A token kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An identifier or keyword (`segment`, `AND`, `events`, `last_7_days`).
    Ident(String),
    /// A number.
    Number(f64),
    /// A number followed by `%` (stored as a fraction: `70%` is 0.7).
    Percent(f64),
    /// A double-quoted string.
    Str(String),
    /// `{`
    LBrace,
    /// `}`
    RBrace,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `:`
    Colon,
    /// `.`
    Dot,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `>=`, `<=`, `>`, `<`, `==`, `!=`
    Cmp(&'static str),
    /// A character that starts no token, or an unterminated string.
    Error(String),
    /// End of input.
    Eof,
}

/// A token and where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// The kind.
    pub tok: Tok,
    /// Where.
    pub span: Span,
}

/// Splits rule text into tokens; `#` and `//` start comments to the end of the line.
pub fn lex(src: &str) -> Vec<Token> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let single = match c {
            b'{' => Some(Tok::LBrace),
            b'}' => Some(Tok::RBrace),
            b'(' => Some(Tok::LParen),
            b')' => Some(Tok::RParen),
            b'[' => Some(Tok::LBracket),
            b']' => Some(Tok::RBracket),
            b',' => Some(Tok::Comma),
            b':' => Some(Tok::Colon),
            b'+' => Some(Tok::Plus),
            b'-' => Some(Tok::Minus),
            b'*' => Some(Tok::Star),
            b'/' => Some(Tok::Slash),
            b'.' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => Some(Tok::Dot),
            _ => None,
        };
        if let Some(t) = single {
            i += 1;
            out.push(Token { tok: t, span: Span { start, end: i } });
            continue;
        }
        let two = b.get(i + 1).copied();
        let cmp = match (c, two) {
            (b'>', Some(b'=')) => Some((">=", 2)),
            (b'<', Some(b'=')) => Some(("<=", 2)),
            (b'=', Some(b'=')) => Some(("==", 2)),
            (b'!', Some(b'=')) => Some(("!=", 2)),
            (b'>', _) => Some((">", 1)),
            (b'<', _) => Some(("<", 1)),
            _ => None,
        };
        if let Some((op, n)) = cmp {
            i += n;
            out.push(Token { tok: Tok::Cmp(op), span: Span { start, end: i } });
            continue;
        }
        if c.is_ascii_digit() || c == b'.' {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            let text: String = src[start..i].chars().filter(|c| *c != '_').collect();
            let tok = match text.parse::<f64>() {
                Ok(v) if b.get(i) == Some(&b'%') => {
                    i += 1;
                    Tok::Percent(v / 100.0)
                }
                Ok(v) => Tok::Number(v),
                Err(_) => Tok::Error(format!("'{}' is not a number", &src[start..i])),
            };
            out.push(Token { tok, span: Span { start, end: i } });
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            out.push(Token { tok: Tok::Ident(src[start..i].to_string()), span: Span { start, end: i } });
            continue;
        }
        if c == b'"' {
            i += 1;
            let mut s = String::new();
            let mut closed = false;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i += 1;
                        closed = true;
                        break;
                    }
                    b'\n' => break,
                    b'\\' if i + 1 < b.len() && matches!(b[i + 1], b'"' | b'\\') => {
                        s.push(b[i + 1] as char);
                        i += 2;
                    }
                    _ => {
                        let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
                        s.push(ch);
                        i += ch.len_utf8();
                    }
                }
            }
            let tok = if closed { Tok::Str(s) } else { Tok::Error("this string is not closed with '\"'".into()) };
            out.push(Token { tok, span: Span { start, end: i } });
            continue;
        }
        let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
        i += ch.len_utf8();
        out.push(Token { tok: Tok::Error(format!("unexpected character '{ch}'")), span: Span { start, end: i } });
    }
    out.push(Token { tok: Tok::Eof, span: Span { start: b.len(), end: b.len() } });
    out
}
