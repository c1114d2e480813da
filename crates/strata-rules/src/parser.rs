//! Recursive descent with recovery: an error inside a segment is reported and the
//! parser skips to the next `segment`, so one run reports every broken block.

use crate::ast::{BinOp, Component, Expr, Row, RowTest, RowValue, RuleFile, Score, Segment, Setting};
use crate::lexer::{lex, Tok, Token};
use crate::{Diagnostic, Span};

/// Parses a rule file: the segments it could read and every problem found.
pub fn parse(src: &str) -> (RuleFile, Vec<Diagnostic>) {
    let mut p = Parser { toks: lex(src), pos: 0, diags: Vec::new(), depth: 0 };
    let mut file = RuleFile::default();
    while !p.at_eof() {
        let start = p.pos;
        let r = if p.is_kw("score") {
            p.score().map(|s| file.scores.push(s))
        } else {
            p.segment().map(|s| file.segments.push(s))
        };
        match r {
            Ok(()) => {}
            Err(d) => {
                p.diags.push(d);
                p.recover_to_segment(start);
            }
        }
    }
    (file, p.diags)
}

const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    diags: Vec<Diagnostic>,
    depth: usize,
}

type PResult<T> = Result<T, Diagnostic>;

fn err(span: Span, message: impl Into<String>, hint: Option<&str>) -> Diagnostic {
    Diagnostic { span, message: message.into(), hint: hint.map(str::to_string) }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Number(n) => format!("the number {n}"),
        Tok::Percent(n) => format!("the percentage {}%", n * 100.0),
        Tok::Str(s) => format!("the string \"{s}\""),
        Tok::Cmp(op) => format!("'{op}'"),
        Tok::Error(e) => e.clone(),
        Tok::Eof => "the end of the file".into(),
        other => format!("'{}'", symbol(other)),
    }
}

fn symbol(t: &Tok) -> &'static str {
    match t {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::LBracket => "[",
        Tok::RBracket => "]",
        Tok::Comma => ",",
        Tok::Colon => ":",
        Tok::Dot => ".",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        _ => "?",
    }
}

fn cmp_op(op: &str) -> BinOp {
    match op {
        ">=" => BinOp::Ge,
        "<=" => BinOp::Le,
        ">" => BinOp::Gt,
        "<" => BinOp::Lt,
        "==" => BinOp::Eq,
        _ => BinOp::Ne,
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    fn at_eof(&self) -> bool {
        self.peek().tok == Tok::Eof
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn eat(&mut self, want: Tok, what: &str) -> PResult<Token> {
        let t = self.peek().clone();
        if std::mem::discriminant(&t.tok) == std::mem::discriminant(&want) {
            Ok(self.bump())
        } else {
            Err(err(t.span, format!("expected {what}, found {}", describe(&t.tok)), None))
        }
    }

    /// Skips to the next top-level `segment` or `score` after `from`.
    fn recover_to_segment(&mut self, from: usize) {
        if self.pos == from {
            self.bump();
        }
        let mut depth = 0i32;
        while !self.at_eof() {
            match &self.peek().tok {
                Tok::LBrace => depth += 1,
                Tok::RBrace => depth -= 1,
                Tok::Ident(s) if (s == "segment" || s == "score") && depth <= 0 => return,
                _ => {}
            }
            self.bump();
        }
    }

    fn segment(&mut self) -> PResult<Segment> {
        let kw = self.peek().clone();
        if !self.is_kw("segment") {
            return Err(err(
                kw.span,
                format!(
                    "expected a `segment \"Name\" {{ ... }}` or `score \"name\" {{ ... }}` block, found {}",
                    describe(&kw.tok)
                ),
                None,
            ));
        }
        self.bump();
        let name_tok = self.eat(Tok::Str(String::new()), "the segment's name in double quotes")?;
        let name = match name_tok.tok {
            Tok::Str(s) => s,
            _ => String::new(),
        };
        self.eat(Tok::LBrace, "'{' to open the segment")?;
        let mut seg = Segment {
            name,
            name_span: name_tok.span,
            conditions: None,
            refresh: None,
            family: None,
            action: None,
            description: None,
            span: kw.span,
        };
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::RBrace => {
                    self.bump();
                    seg.span = kw.span.to(t.span);
                    return Ok(seg);
                }
                Tok::Ident(key) if key == "conditions" => {
                    self.bump();
                    self.eat(Tok::LBrace, "'{' after conditions")?;
                    let e = self.expr()?;
                    self.eat(Tok::RBrace, "'}' to close the conditions (or AND / OR to join another condition)")?;
                    if seg.conditions.is_some() {
                        return Err(err(
                            t.span,
                            "this segment already has conditions",
                            Some("join conditions with AND / OR in one block"),
                        ));
                    }
                    seg.conditions = Some(e);
                }
                Tok::Ident(key) if matches!(key.as_str(), "refresh" | "family" | "action" | "description") => {
                    let key = key.clone();
                    self.bump();
                    self.eat(Tok::Colon, &format!("':' after {key}"))?;
                    let v = self.bump();
                    let value = match v.tok {
                        Tok::Str(s) | Tok::Ident(s) => s,
                        other => {
                            return Err(err(
                                v.span,
                                format!("expected a value for {key}, found {}", describe(&other)),
                                None,
                            ))
                        }
                    };
                    let slot = match key.as_str() {
                        "refresh" => &mut seg.refresh,
                        "family" => &mut seg.family,
                        "action" => &mut seg.action,
                        _ => &mut seg.description,
                    };
                    if slot.is_some() {
                        return Err(err(t.span, format!("{key} is set twice in this segment"), None));
                    }
                    *slot = Some(Setting { value, span: v.span });
                }
                Tok::Eof => {
                    return Err(err(t.span, format!("segment \"{}\" is not closed with '}}'", seg.name), None));
                }
                other => {
                    return Err(err(
                        t.span,
                        format!("unexpected {} in segment \"{}\"", describe(other), seg.name),
                        Some("a segment holds conditions { ... }, refresh:, family:, action: and description:"),
                    ))
                }
            }
        }
    }

    fn quoted(&mut self, what: &str) -> PResult<(String, Span)> {
        let t = self.eat(Tok::Str(String::new()), what)?;
        match t.tok {
            Tok::Str(s) => Ok((s, t.span)),
            _ => Ok((String::new(), t.span)),
        }
    }

    fn score(&mut self) -> PResult<Score> {
        let kw = self.bump();
        let (name, name_span) = self.quoted("the score's name in double quotes")?;
        self.eat(Tok::LBrace, "'{' to open the score")?;
        let mut score =
            Score { name, name_span, description: None, components: Vec::new(), tiers: Vec::new(), span: kw.span };
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::RBrace => {
                    self.bump();
                    score.span = kw.span.to(t.span);
                    return Ok(score);
                }
                Tok::Ident(k) if k == "description" => {
                    self.bump();
                    self.eat(Tok::Colon, "':' after description")?;
                    let (value, span) = self.quoted("the description in double quotes")?;
                    if score.description.is_some() {
                        return Err(err(t.span, "description is set twice in this score", None));
                    }
                    score.description = Some(Setting { value, span });
                }
                Tok::Ident(k) if k == "component" => {
                    self.bump();
                    let (name, name_span) = self.quoted("the component's name in double quotes")?;
                    let input = if self.is_kw("of") {
                        self.bump();
                        Some(self.expr()?)
                    } else {
                        None
                    };
                    let sum = self.is_kw("sum");
                    if sum {
                        self.bump();
                    }
                    let rows = self.rows(false)?;
                    score.components.push(Component { name, name_span, input, sum, rows });
                }
                Tok::Ident(k) if k == "tiers" => {
                    self.bump();
                    if !score.tiers.is_empty() {
                        return Err(err(t.span, "tiers are set twice in this score", None));
                    }
                    score.tiers = self.rows(true)?;
                }
                Tok::Eof => {
                    return Err(err(t.span, format!("score \"{}\" is not closed with '}}'", score.name), None));
                }
                other => {
                    return Err(err(
                        t.span,
                        format!("unexpected {} in score \"{}\"", describe(other), score.name),
                        Some(
                            "a score holds description:, component \"name\" [of EXPR] [sum] { ... } and tiers { ... }",
                        ),
                    ))
                }
            }
        }
    }

    /// `{ row* }`; tier rows give labels, component rows give points.
    fn rows(&mut self, labels: bool) -> PResult<Vec<Row>> {
        self.eat(Tok::LBrace, "'{' to open the table")?;
        let mut rows = Vec::new();
        loop {
            let t = self.peek().clone();
            let test = match &t.tok {
                Tok::RBrace => {
                    self.bump();
                    return Ok(rows);
                }
                Tok::Cmp(op) => {
                    self.bump();
                    let op = cmp_op(op);
                    RowTest::Cmp(op, self.sum()?)
                }
                Tok::Ident(k) if k == "when" => {
                    self.bump();
                    RowTest::When(self.expr()?)
                }
                Tok::Ident(k) if k == "null" => {
                    self.bump();
                    RowTest::Null
                }
                Tok::Ident(k) if k == "else" => {
                    self.bump();
                    RowTest::Else
                }
                other => {
                    return Err(err(
                        t.span,
                        format!("expected a table row, found {}", describe(other)),
                        Some("rows read `>= 7: 30`, `when COND: 15`, `null: 0` or `else: 0`"),
                    ))
                }
            };
            self.eat(Tok::Colon, "':' before the row's value")?;
            let v = self.bump();
            let value = match (v.tok, labels) {
                (Tok::Str(s), true) => RowValue::Label(s),
                (Tok::Number(n), false) => RowValue::Points(n),
                (Tok::Minus, false) => match self.bump().tok {
                    Tok::Number(n) => RowValue::Points(-n),
                    other => return Err(err(v.span, format!("expected points, found {}", describe(&other)), None)),
                },
                (other, true) => {
                    return Err(err(
                        v.span,
                        format!("expected the tier's label in double quotes, found {}", describe(&other)),
                        None,
                    ))
                }
                (other, false) => {
                    return Err(err(v.span, format!("expected a number of points, found {}", describe(&other)), None))
                }
            };
            rows.push(Row { test, value, span: t.span.to(v.span) });
        }
    }

    fn expr(&mut self) -> PResult<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let span = self.peek().span;
            self.depth -= 1;
            return Err(err(span, "expression nested too deeply", None));
        }
        let r = self.or();
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> PResult<Expr> {
        let mut l = self.and()?;
        while self.is_kw("OR") {
            self.bump();
            let r = self.and()?;
            let span = l.span().to(r.span());
            l = Expr::Bin(BinOp::Or, Box::new(l), Box::new(r), span);
        }
        Ok(l)
    }

    fn and(&mut self) -> PResult<Expr> {
        let mut l = self.not()?;
        while self.is_kw("AND") {
            self.bump();
            let r = self.not()?;
            let span = l.span().to(r.span());
            l = Expr::Bin(BinOp::And, Box::new(l), Box::new(r), span);
        }
        Ok(l)
    }

    fn not(&mut self) -> PResult<Expr> {
        if self.is_kw("NOT") {
            let t = self.bump();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(err(t.span, "expression nested too deeply", None));
            }
            let e = self.not();
            self.depth -= 1;
            let e = e?;
            let span = t.span.to(e.span());
            return Ok(Expr::Not(Box::new(e), span));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> PResult<Expr> {
        let l = self.sum()?;
        let t = self.peek().clone();
        if let Tok::Cmp(op) = t.tok {
            self.bump();
            let r = self.sum()?;
            let op = cmp_op(op);
            let span = l.span().to(r.span());
            return Ok(Expr::Bin(op, Box::new(l), Box::new(r), span));
        }
        if self.is_kw("is") {
            self.bump();
            let negated = self.is_kw("not");
            if negated {
                self.bump();
            }
            let n = self.peek().clone();
            if !self.is_kw("null") {
                return Err(err(n.span, format!("expected 'null' after 'is', found {}", describe(&n.tok)), None));
            }
            self.bump();
            let span = l.span().to(n.span);
            return Ok(Expr::IsNull(Box::new(l), negated, span));
        }
        let negated = self.is_kw("not")
            && matches!(&self.toks.get(self.pos + 1).map(|t| &t.tok), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("in"));
        if negated {
            self.bump();
        }
        if self.is_kw("in") {
            self.bump();
            self.eat(Tok::LBracket, "'[' to open the list")?;
            let mut items = Vec::new();
            loop {
                if self.peek().tok == Tok::RBracket {
                    break;
                }
                items.push(self.sum()?);
                if self.peek().tok == Tok::Comma {
                    self.bump();
                } else {
                    break;
                }
            }
            let close = self.eat(Tok::RBracket, "']' to close the list")?;
            let span = l.span().to(close.span);
            return Ok(Expr::In(Box::new(l), items, negated, span));
        }
        Ok(l)
    }

    fn sum(&mut self) -> PResult<Expr> {
        let mut l = self.product()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.product()?;
            let span = l.span().to(r.span());
            l = Expr::Bin(op, Box::new(l), Box::new(r), span);
        }
    }

    fn product(&mut self) -> PResult<Expr> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                _ => return Ok(l),
            };
            self.bump();
            let r = self.unary()?;
            let span = l.span().to(r.span());
            l = Expr::Bin(op, Box::new(l), Box::new(r), span);
        }
    }

    fn unary(&mut self) -> PResult<Expr> {
        if self.peek().tok == Tok::Minus {
            let t = self.bump();
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(err(t.span, "expression nested too deeply", None));
            }
            let e = self.unary();
            self.depth -= 1;
            let e = e?;
            let span = t.span.to(e.span());
            return Ok(Expr::Neg(Box::new(e), span));
        }
        self.primary()
    }

    fn primary(&mut self) -> PResult<Expr> {
        let t = self.bump();
        match t.tok {
            Tok::Number(v) | Tok::Percent(v) => Ok(Expr::Num(v, t.span)),
            Tok::Str(s) => Ok(Expr::Str(s, t.span)),
            Tok::LParen => {
                let e = self.expr()?;
                self.eat(Tok::RParen, "')'")?;
                Ok(e)
            }
            Tok::Ident(first) => {
                if matches!(first.to_ascii_uppercase().as_str(), "AND" | "OR" | "NOT") {
                    return Err(err(t.span, format!("'{first}' needs a condition before it"), None));
                }
                let mut parts = vec![first];
                let mut span = t.span;
                while self.peek().tok == Tok::Dot {
                    self.bump();
                    let n = self.bump();
                    match n.tok {
                        Tok::Ident(s) => {
                            parts.push(s);
                            span = span.to(n.span);
                        }
                        other => {
                            return Err(err(
                                n.span,
                                format!("expected a name after '.', found {}", describe(&other)),
                                None,
                            ))
                        }
                    }
                }
                if self.peek().tok == Tok::LParen {
                    self.bump();
                    let mut args = Vec::new();
                    if self.peek().tok != Tok::RParen {
                        loop {
                            args.push(self.expr()?);
                            if self.peek().tok == Tok::Comma {
                                self.bump();
                            } else {
                                break;
                            }
                        }
                    }
                    let close = self.eat(Tok::RParen, "')' to close the arguments")?;
                    return Ok(Expr::Call(parts, args, span.to(close.span)));
                }
                Ok(Expr::Ref(parts, span))
            }
            other => Err(err(t.span, format!("expected a value, a name or '(', found {}", describe(&other)), None)),
        }
    }
}
