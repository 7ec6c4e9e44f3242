//! The FHIRPath parser: tokens to an expression tree, each expression parsed once per
//! process.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use super::lexer::{lex, Tok};

/// Expressions deeper than this are refused (a hostile profile).
pub(super) const MAX_DEPTH: usize = 200;

#[derive(Debug, Clone)]
pub(super) enum Expr {
    Empty,
    Bool(bool),
    Str(String),
    Int(i64),
    Dec(f64),
    Date(String),
    Quantity(f64, String),
    Var(String),
    /// A member name applied to the focus (`name`), or to a receiver.
    Member(Option<Box<Expr>>, String),
    Index(Box<Expr>, Box<Expr>),
    Call(Option<Box<Expr>>, String, Vec<Expr>),
    Bin(String, Box<Expr>, Box<Expr>),
    Neg(Box<Expr>),
    TypeOp(String, Box<Expr>, String),
}

pub(super) struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

pub(super) const CALENDAR: &[&str] = &[
    "year",
    "years",
    "month",
    "months",
    "week",
    "weeks",
    "day",
    "days",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "millisecond",
    "milliseconds",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if o == op)
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Id(o)) if o == w)
    }
    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.is_op(op) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected {op}"))
        }
    }
    fn expr(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("expression too deep".into());
        }
        let r = self.implies();
        self.depth -= 1;
        r
    }
    fn implies(&mut self) -> Result<Expr, String> {
        let mut l = self.or()?;
        while self.is_word("implies") {
            self.pos += 1;
            let r = self.or()?;
            l = Expr::Bin("implies".into(), Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.is_word("or") || self.is_word("xor") {
            let op = if self.is_word("or") { "or" } else { "xor" };
            self.pos += 1;
            let r = self.and()?;
            l = Expr::Bin(op.into(), Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.membership()?;
        while self.is_word("and") {
            self.pos += 1;
            let r = self.membership()?;
            l = Expr::Bin("and".into(), Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn membership(&mut self) -> Result<Expr, String> {
        let mut l = self.equality()?;
        while self.is_word("in") || self.is_word("contains") {
            let op = if self.is_word("in") { "in" } else { "contains" };
            self.pos += 1;
            let r = self.equality()?;
            l = Expr::Bin(op.into(), Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn equality(&mut self) -> Result<Expr, String> {
        let mut l = self.inequality()?;
        while let Some(Tok::Op(o)) = self.peek() {
            if !["=", "!=", "~", "!~"].contains(&o.as_str()) {
                break;
            }
            let op = o.clone();
            self.pos += 1;
            let r = self.inequality()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn inequality(&mut self) -> Result<Expr, String> {
        let mut l = self.union()?;
        while let Some(Tok::Op(o)) = self.peek() {
            if !["<", ">", "<=", ">="].contains(&o.as_str()) {
                break;
            }
            let op = o.clone();
            self.pos += 1;
            let r = self.union()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn union(&mut self) -> Result<Expr, String> {
        let mut l = self.type_expr()?;
        while self.is_op("|") {
            self.pos += 1;
            let r = self.type_expr()?;
            l = Expr::Bin("|".into(), Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn type_expr(&mut self) -> Result<Expr, String> {
        let mut l = self.additive()?;
        while self.is_word("is") || self.is_word("as") {
            let op = if self.is_word("is") { "is" } else { "as" };
            self.pos += 1;
            let t = self.type_name()?;
            l = Expr::TypeOp(op.into(), Box::new(l), t);
        }
        Ok(l)
    }
    fn type_name(&mut self) -> Result<String, String> {
        let mut name = match self.peek() {
            Some(Tok::Id(s)) => s.clone(),
            _ => return Err("expected a type name".into()),
        };
        self.pos += 1;
        while self.is_op(".") {
            if let Some(Tok::Id(s)) = self.toks.get(self.pos + 1) {
                name = format!("{name}.{s}");
                self.pos += 2;
            } else {
                break;
            }
        }
        Ok(name)
    }
    fn additive(&mut self) -> Result<Expr, String> {
        let mut l = self.multiplicative()?;
        while let Some(Tok::Op(o)) = self.peek() {
            if !["+", "-", "&"].contains(&o.as_str()) {
                break;
            }
            let op = o.clone();
            self.pos += 1;
            let r = self.multiplicative()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn multiplicative(&mut self) -> Result<Expr, String> {
        let mut l = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op(o)) if o == "*" || o == "/" => o.clone(),
                Some(Tok::Id(o)) if o == "div" || o == "mod" => o.clone(),
                _ => break,
            };
            self.pos += 1;
            let r = self.unary()?;
            l = Expr::Bin(op, Box::new(l), Box::new(r));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.is_op("-") {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        if self.is_op("+") {
            self.pos += 1;
        }
        self.postfix()
    }
    fn postfix(&mut self) -> Result<Expr, String> {
        let mut e = self.term()?;
        loop {
            if self.is_op(".") {
                self.pos += 1;
                let name = match self.peek() {
                    Some(Tok::Id(s)) => s.clone(),
                    _ => return Err("expected a name after '.'".into()),
                };
                self.pos += 1;
                if self.is_op("(") {
                    let args = self.args()?;
                    e = Expr::Call(Some(Box::new(e)), name, args);
                } else {
                    e = Expr::Member(Some(Box::new(e)), name);
                }
            } else if self.is_op("[") {
                self.pos += 1;
                let idx = self.expr()?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(idx));
            } else {
                break;
            }
        }
        Ok(e)
    }
    fn args(&mut self) -> Result<Vec<Expr>, String> {
        self.expect("(")?;
        let mut args = Vec::new();
        if self.is_op(")") {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.is_op(",") {
                self.pos += 1;
                continue;
            }
            self.expect(")")?;
            return Ok(args);
        }
    }
    fn term(&mut self) -> Result<Expr, String> {
        let tok = self.peek().cloned().ok_or("unexpected end of expression")?;
        self.pos += 1;
        match tok {
            Tok::Op(o) if o == "(" => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Op(o) if o == "{" => {
                self.expect("}")?;
                Ok(Expr::Empty)
            }
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Date(d) => Ok(Expr::Date(d)),
            Tok::Var(v) => Ok(Expr::Var(v)),
            Tok::Num(n) => {
                let value: f64 = n.parse().map_err(|_| "bad number")?;
                let unit = match self.peek() {
                    Some(Tok::Str(u)) => Some(u.clone()),
                    Some(Tok::Id(u)) if CALENDAR.contains(&u.as_str()) => Some(u.clone()),
                    _ => None,
                };
                if let Some(u) = unit {
                    self.pos += 1;
                    return Ok(Expr::Quantity(value, u));
                }
                if n.contains('.') {
                    Ok(Expr::Dec(value))
                } else {
                    Ok(Expr::Int(n.parse().map_err(|_| "bad integer")?))
                }
            }
            Tok::Id(id) => {
                if id == "true" || id == "false" {
                    return Ok(Expr::Bool(id == "true"));
                }
                if self.is_op("(") {
                    let args = self.args()?;
                    return Ok(Expr::Call(None, id, args));
                }
                Ok(Expr::Member(None, id))
            }
            Tok::Op(o) => Err(format!("unexpected {o}")),
        }
    }
}

pub(super) fn parse(src: &str) -> Result<Expr, String> {
    let toks = lex(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err("unexpected trailing input".into());
    }
    Ok(e)
}

/// Parsed expressions, shared across threads.
pub(super) fn parsed(src: &str) -> Result<Arc<Expr>, String> {
    type Cache = RwLock<HashMap<String, Result<Arc<Expr>, String>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| RwLock::new(HashMap::new()));
    if let Ok(map) = cache.read() {
        if let Some(r) = map.get(src) {
            return r.clone();
        }
    }
    let r = parse(src).map(Arc::new);
    if let Ok(mut map) = cache.write() {
        map.insert(src.to_string(), r.clone());
    }
    r
}
