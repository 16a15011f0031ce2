//! A small SQL engine in the SQLite dialect: enough of `SELECT` for a
//! login query and the injections made against one.
//!
//! Supported: `SELECT cols FROM table [WHERE expr]`, compounds with
//! `UNION [ALL]`, `ORDER BY` (result column names or positions, or
//! expressions over the table), `LIMIT n [OFFSET m]` and `LIMIT m, n`, one
//! trailing `;`. Expressions: integer and string literals, `NULL`,
//! columns, `( )`, `NOT`, `AND`, `OR`, `=`, `==`, `!=`, `<>`, `<`, `<=`,
//! `>`, `>=`, `[NOT] LIKE`, `IS [NOT] NULL`, `+`, `-`, `||`, and the
//! functions `length`, `lower`, `upper`, `substr`, `sqlite_version`.
//! Comments: `--` to the end of the line and `/* */` (unterminated: to
//! the end). Errors carry SQLite's messages, as a debug page would show.
//!
//! Everything is bounded: expression depth ([`MAX_DEPTH`]), and the
//! input, which the caller keeps small.

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cmp::Ordering;

/// The deepest expression the parser accepts.
pub const MAX_DEPTH: usize = 64;

/// A value: SQLite's storage classes, without REAL and BLOB.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Value {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// Text.
    Text(String),
}

impl Value {
    /// The value as Python's sqlite3 module would print it.
    pub fn display(&self) -> String {
        match self {
            Value::Null => "None".to_string(),
            Value::Int(i) => format!("{i}"),
            Value::Text(t) => t.clone(),
        }
    }

    fn as_int(&self) -> Option<i64> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(*i),
            Value::Text(t) => Some(leading_int(t)),
        }
    }

    fn truth(&self) -> Option<bool> {
        self.as_int().map(|i| i != 0)
    }

    fn text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(format!("{i}")),
            Value::Text(t) => Some(t.clone()),
        }
    }
}

/// The integer at the start of `text`, as SQLite converts text to a number.
fn leading_int(text: &str) -> i64 {
    let t = text.trim_start();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let mut n: i64 = 0;
    for b in digits.bytes().take_while(u8::is_ascii_digit) {
        n = n.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg { n.saturating_neg() } else { n }
}

/// SQLite's sort order: NULL, then integers, then text (bytewise).
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Int(_), Value::Text(_)) => Ordering::Less,
        (Value::Text(_), Value::Int(_)) => Ordering::Greater,
        (Value::Text(x), Value::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
    }
}

/// A table: column names and rows.
#[derive(Clone, Debug)]
pub struct Table {
    /// The table's name.
    pub name: String,
    /// Column names, lower case.
    pub columns: Vec<String>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// A query error, with SQLite's message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SqlError(pub String);

type Res<T> = Result<T, SqlError>;

fn err<T>(message: String) -> Res<T> {
    Err(SqlError(message))
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Tok {
    Word(String),
    Quoted(String),
    Str(String),
    Int(i64),
    Sym(&'static str),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    /// The token's source text, for messages.
    text: String,
}

const SYMBOLS: [&str; 20] = [
    "==", "!=", "<>", "<=", ">=", "||", "=", "<", ">", "(", ")", ",", ";", "*", "+", "-", "/", "%",
    ".", "~",
];

fn tokenize(sql: &str) -> Res<Vec<Token>> {
    let mut out = Vec::new();
    let mut rest = sql;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(out);
        }
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, next)| next);
            continue;
        }
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, next)| next);
            continue;
        }
        let first = rest.chars().next().unwrap_or(' ');
        if first == '\'' || first == '"' {
            let (body, len) = quoted(rest, first)
                .ok_or_else(|| SqlError(format!("unrecognized token: \"{}\"", clip(rest, 40))))?;
            let tok = if first == '\'' {
                Tok::Str(body)
            } else {
                Tok::Quoted(body)
            };
            out.push(Token {
                tok,
                text: rest[..len].to_string(),
            });
            rest = &rest[len..];
            continue;
        }
        if first.is_ascii_digit() {
            let len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let word_len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            if word_len > len {
                return err(format!("unrecognized token: \"{}\"", &rest[..word_len]));
            }
            let text = &rest[..len];
            let value = text.parse::<i64>().unwrap_or(i64::MAX);
            out.push(Token {
                tok: Tok::Int(value),
                text: text.to_string(),
            });
            rest = &rest[len..];
            continue;
        }
        if first.is_ascii_alphabetic() || first == '_' {
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            out.push(Token {
                tok: Tok::Word(rest[..len].to_string()),
                text: rest[..len].to_string(),
            });
            rest = &rest[len..];
            continue;
        }
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(sym) => {
                out.push(Token {
                    tok: Tok::Sym(sym),
                    text: sym.to_string(),
                });
                rest = &rest[sym.len()..];
            }
            None => return err(format!("unrecognized token: \"{first}\"")),
        }
    }
}

/// A quoted token at the start of `text` (quote `q`, doubled to escape):
/// its body and its length in bytes, or `None` when it is not closed.
fn quoted(text: &str, q: char) -> Option<(String, usize)> {
    let mut body = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == q {
            if chars.peek().map(|(_, n)| *n) == Some(q) {
                chars.next();
                body.push(q);
            } else {
                return Some((body, i + c.len_utf8()));
            }
        } else {
            body.push(c);
        }
    }
    None
}

/// At most `max` characters of `text`.
fn clip(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Concat,
}

#[derive(Clone, Debug)]
enum Expr {
    Lit(Value),
    Column(String),
    /// A double-quoted identifier: a column if there is one, else text.
    Quoted(String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    Like(bool, Box<Expr>, Box<Expr>),
    IsNull(bool, Box<Expr>),
    Call(String, Vec<Expr>),
}

#[derive(Clone, Debug)]
enum ResultCol {
    Star,
    Expr(Expr, String),
}

#[derive(Clone, Debug)]
struct Core {
    cols: Vec<ResultCol>,
    from: Option<String>,
    filter: Option<Expr>,
}

#[derive(Clone, Debug)]
struct Select {
    cores: Vec<(bool, Core)>,
    order: Vec<(Expr, bool)>,
    limit: Option<Expr>,
    offset: Option<Expr>,
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
    depth: usize,
}

const RESERVED: [&str; 17] = [
    "select", "from", "where", "and", "or", "not", "union", "all", "order", "by", "limit",
    "offset", "like", "is", "null", "asc", "desc",
];

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }

    fn syntax_error<T>(&self) -> Res<T> {
        match self.toks.get(self.at) {
            Some(t) => err(format!("near \"{}\": syntax error", clip(&t.text, 40))),
            None => err("incomplete input".to_string()),
        }
    }

    fn keyword(&mut self, word: &str) -> bool {
        if let Some(Tok::Word(w)) = self.peek()
            && w.eq_ignore_ascii_case(word)
        {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect_keyword(&mut self, word: &str) -> Res<()> {
        if self.keyword(word) {
            Ok(())
        } else {
            self.syntax_error()
        }
    }

    fn sym(&mut self, sym: &str) -> bool {
        if let Some(Tok::Sym(s)) = self.peek()
            && *s == sym
        {
            self.at += 1;
            return true;
        }
        false
    }

    fn expect_sym(&mut self, sym: &str) -> Res<()> {
        if self.sym(sym) {
            Ok(())
        } else {
            self.syntax_error()
        }
    }

    fn deeper(&mut self) -> Res<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(format!(
                "Expression tree is too large (maximum depth {MAX_DEPTH})"
            ));
        }
        Ok(())
    }

    fn statement(&mut self) -> Res<Select> {
        let mut cores = alloc::vec![(false, self.core()?)];
        while self.keyword("union") {
            let all = self.keyword("all");
            cores.push((all, self.core()?));
        }
        let mut order = Vec::new();
        if self.keyword("order") {
            self.expect_keyword("by")?;
            loop {
                let e = self.expr()?;
                let desc = if self.keyword("desc") {
                    true
                } else {
                    self.keyword("asc");
                    false
                };
                order.push((e, desc));
                if !self.sym(",") {
                    break;
                }
            }
        }
        let (mut limit, mut offset) = (None, None);
        if self.keyword("limit") {
            let first = self.expr()?;
            if self.keyword("offset") {
                limit = Some(first);
                offset = Some(self.expr()?);
            } else if self.sym(",") {
                offset = Some(first);
                limit = Some(self.expr()?);
            } else {
                limit = Some(first);
            }
        }
        if self.sym(";") && self.at < self.toks.len() {
            return err("You can only execute one statement at a time.".to_string());
        }
        if self.at < self.toks.len() {
            return self.syntax_error();
        }
        Ok(Select {
            cores,
            order,
            limit,
            offset,
        })
    }

    fn core(&mut self) -> Res<Core> {
        self.expect_keyword("select")?;
        let mut cols = Vec::new();
        loop {
            if self.sym("*") {
                cols.push(ResultCol::Star);
            } else {
                let start = self.at;
                let e = self.expr()?;
                let name = self
                    .toks
                    .get(start..self.at)
                    .map(|ts| {
                        let parts: Vec<&str> = ts.iter().map(|t| t.text.as_str()).collect();
                        parts.join(" ")
                    })
                    .unwrap_or_default();
                cols.push(ResultCol::Expr(e, name));
            }
            if !self.sym(",") {
                break;
            }
        }
        let mut from = None;
        if self.keyword("from") {
            match self.toks.get(self.at).map(|t| t.tok.clone()) {
                Some(Tok::Word(w)) | Some(Tok::Quoted(w))
                    if !RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r)) =>
                {
                    self.at += 1;
                    from = Some(w);
                }
                _ => return self.syntax_error(),
            }
        }
        let filter = if self.keyword("where") {
            Some(self.expr()?)
        } else {
            None
        };
        Ok(Core { cols, from, filter })
    }

    fn expr(&mut self) -> Res<Expr> {
        let saved = self.depth;
        self.deeper()?;
        let mut left = self.and()?;
        while self.keyword("or") {
            self.deeper()?;
            let right = self.and()?;
            left = Expr::Bin(BinOp::Or, Box::new(left), Box::new(right));
        }
        self.depth = saved;
        Ok(left)
    }

    fn and(&mut self) -> Res<Expr> {
        let saved = self.depth;
        let mut left = self.not()?;
        while self.keyword("and") {
            self.deeper()?;
            let right = self.not()?;
            left = Expr::Bin(BinOp::And, Box::new(left), Box::new(right));
        }
        self.depth = saved;
        Ok(left)
    }

    fn not(&mut self) -> Res<Expr> {
        if self.keyword("not") {
            let saved = self.depth;
            self.deeper()?;
            let inner = self.not()?;
            self.depth = saved;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Res<Expr> {
        let saved = self.depth;
        let mut left = self.additive()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Sym("=")) | Some(Tok::Sym("==")) => Some(BinOp::Eq),
                Some(Tok::Sym("!=")) | Some(Tok::Sym("<>")) => Some(BinOp::Ne),
                Some(Tok::Sym("<")) => Some(BinOp::Lt),
                Some(Tok::Sym("<=")) => Some(BinOp::Le),
                Some(Tok::Sym(">")) => Some(BinOp::Gt),
                Some(Tok::Sym(">=")) => Some(BinOp::Ge),
                _ => None,
            };
            if let Some(op) = op {
                self.at += 1;
                self.deeper()?;
                let right = self.additive()?;
                left = Expr::Bin(op, Box::new(left), Box::new(right));
                continue;
            }
            if self.keyword("is") {
                let negated = self.keyword("not");
                self.expect_keyword("null")?;
                self.deeper()?;
                left = Expr::IsNull(negated, Box::new(left));
                continue;
            }
            let negated = if let (Some(Tok::Word(a)), Some(Tok::Word(b))) =
                (self.peek(), self.toks.get(self.at + 1).map(|t| &t.tok))
                && a.eq_ignore_ascii_case("not")
                && b.eq_ignore_ascii_case("like")
            {
                self.at += 1;
                true
            } else {
                false
            };
            if self.keyword("like") {
                self.deeper()?;
                let right = self.additive()?;
                left = Expr::Like(negated, Box::new(left), Box::new(right));
                continue;
            }
            break;
        }
        self.depth = saved;
        Ok(left)
    }

    fn additive(&mut self) -> Res<Expr> {
        let saved = self.depth;
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Sym("+")) => BinOp::Add,
                Some(Tok::Sym("-")) => BinOp::Sub,
                Some(Tok::Sym("||")) => BinOp::Concat,
                _ => break,
            };
            self.at += 1;
            self.deeper()?;
            let right = self.unary()?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
        self.depth = saved;
        Ok(left)
    }

    fn unary(&mut self) -> Res<Expr> {
        if self.sym("-") {
            let saved = self.depth;
            self.deeper()?;
            let inner = self.unary()?;
            self.depth = saved;
            return Ok(Expr::Neg(Box::new(inner)));
        }
        if self.sym("+") {
            let saved = self.depth;
            self.deeper()?;
            let inner = self.unary()?;
            self.depth = saved;
            return Ok(inner);
        }
        self.primary()
    }

    fn primary(&mut self) -> Res<Expr> {
        let Some(token) = self.toks.get(self.at).cloned() else {
            return self.syntax_error();
        };
        match token.tok {
            Tok::Int(i) => {
                self.at += 1;
                Ok(Expr::Lit(Value::Int(i)))
            }
            Tok::Str(s) => {
                self.at += 1;
                Ok(Expr::Lit(Value::Text(s)))
            }
            Tok::Quoted(q) => {
                self.at += 1;
                Ok(Expr::Quoted(q))
            }
            Tok::Sym("(") => {
                self.at += 1;
                let saved = self.depth;
                self.deeper()?;
                let inner = self.expr()?;
                self.depth = saved;
                self.expect_sym(")")?;
                Ok(inner)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => {
                self.at += 1;
                Ok(Expr::Lit(Value::Null))
            }
            Tok::Word(w) if !RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r)) => {
                self.at += 1;
                if self.sym("(") {
                    let mut args = Vec::new();
                    if !self.sym(")") {
                        loop {
                            let saved = self.depth;
                            self.deeper()?;
                            args.push(self.expr()?);
                            self.depth = saved;
                            if self.sym(")") {
                                break;
                            }
                            self.expect_sym(",")?;
                        }
                    }
                    return Ok(Expr::Call(w.to_ascii_lowercase(), args));
                }
                Ok(Expr::Column(w.to_ascii_lowercase()))
            }
            _ => self.syntax_error(),
        }
    }
}

/// A row being filtered: the table and the row's index, if any.
type RowRef<'a> = Option<(&'a Table, usize)>;

fn column(row: RowRef<'_>, name: &str) -> Option<Value> {
    let (table, index) = row?;
    let at = table
        .columns
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))?;
    table.rows.get(index)?.get(at).cloned()
}

fn eval(e: &Expr, row: RowRef<'_>) -> Res<Value> {
    Ok(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Column(name) => match column(row, name) {
            Some(v) => v,
            None => return err(format!("no such column: {}", clip(name, 40))),
        },
        Expr::Quoted(name) => column(row, name).unwrap_or_else(|| Value::Text(name.clone())),
        Expr::Not(inner) => match eval(inner, row)?.truth() {
            None => Value::Null,
            Some(t) => Value::Int(i64::from(!t)),
        },
        Expr::Neg(inner) => match eval(inner, row)?.as_int() {
            None => Value::Null,
            Some(i) => Value::Int(i.wrapping_neg()),
        },
        Expr::Bin(op, l, r) => binary(*op, l, r, row)?,
        Expr::Like(negated, l, r) => match (eval(l, row)?.text(), eval(r, row)?.text()) {
            (Some(text), Some(pattern)) => Value::Int(i64::from(like(&pattern, &text) != *negated)),
            _ => Value::Null,
        },
        Expr::IsNull(negated, inner) => {
            Value::Int(i64::from((eval(inner, row)? == Value::Null) != *negated))
        }
        Expr::Call(name, args) => call(name, args, row)?,
    })
}

fn binary(op: BinOp, l: &Expr, r: &Expr, row: RowRef<'_>) -> Res<Value> {
    let a = eval(l, row)?;
    // Three-valued logic with short cuts, as SQLite evaluates AND and OR.
    match op {
        BinOp::And => {
            if a.truth() == Some(false) {
                return Ok(Value::Int(0));
            }
            let b = eval(r, row)?;
            return Ok(match (a.truth(), b.truth()) {
                (_, Some(false)) => Value::Int(0),
                (Some(true), Some(true)) => Value::Int(1),
                _ => Value::Null,
            });
        }
        BinOp::Or => {
            if a.truth() == Some(true) {
                return Ok(Value::Int(1));
            }
            let b = eval(r, row)?;
            return Ok(match (a.truth(), b.truth()) {
                (_, Some(true)) => Value::Int(1),
                (Some(false), Some(false)) => Value::Int(0),
                _ => Value::Null,
            });
        }
        _ => {}
    }
    let b = eval(r, row)?;
    if a == Value::Null || b == Value::Null {
        return Ok(Value::Null);
    }
    Ok(match op {
        BinOp::Add | BinOp::Sub => {
            let (x, y) = (a.as_int().unwrap_or(0), b.as_int().unwrap_or(0));
            Value::Int(if op == BinOp::Add {
                x.wrapping_add(y)
            } else {
                x.wrapping_sub(y)
            })
        }
        BinOp::Concat => {
            let mut text = a.text().unwrap_or_default();
            text.push_str(&b.text().unwrap_or_default());
            Value::Text(text)
        }
        _ => {
            let (a, b) = affinity(a, l, b, r);
            let ord = compare(&a, &b);
            let result = match op {
                BinOp::Eq => ord == Ordering::Equal,
                BinOp::Ne => ord != Ordering::Equal,
                BinOp::Lt => ord == Ordering::Less,
                BinOp::Le => ord != Ordering::Greater,
                BinOp::Gt => ord == Ordering::Greater,
                _ => ord != Ordering::Less,
            };
            Value::Int(i64::from(result))
        }
    })
}

/// SQLite's comparison affinity, in short: an integer column compared
/// with text that reads as an integer compares as integers (`id = '2'`).
fn affinity(a: Value, l: &Expr, b: Value, r: &Expr) -> (Value, Value) {
    let is_column = |e: &Expr| matches!(e, Expr::Column(_) | Expr::Quoted(_));
    let numeric = |t: &str| !t.is_empty() && t.trim().parse::<i64>().is_ok();
    match (&a, &b) {
        (Value::Int(_), Value::Text(t)) if is_column(l) && numeric(t) => {
            let n = leading_int(t);
            (a, Value::Int(n))
        }
        (Value::Text(t), Value::Int(_)) if is_column(r) && numeric(t) => {
            (Value::Int(leading_int(t)), b)
        }
        _ => (a, b),
    }
}

fn call(name: &str, args: &[Expr], row: RowRef<'_>) -> Res<Value> {
    let arity = match name {
        "sqlite_version" => 0..=0,
        "length" | "lower" | "upper" => 1..=1,
        "substr" | "substring" => 2..=3,
        _ => return err(format!("no such function: {}", clip(name, 40))),
    };
    if !arity.contains(&args.len()) {
        return err(format!("wrong number of arguments to function {}()", name));
    }
    let mut values = Vec::with_capacity(args.len());
    for a in args {
        values.push(eval(a, row)?);
    }
    if name == "sqlite_version" {
        return Ok(Value::Text("3.40.1".to_string()));
    }
    let Some(Some(text)) = values.first().map(Value::text) else {
        return Ok(Value::Null);
    };
    Ok(match name {
        "length" => Value::Int(text.chars().count() as i64),
        "lower" => Value::Text(text.to_ascii_lowercase()),
        "upper" => Value::Text(text.to_ascii_uppercase()),
        _ => {
            let chars: Vec<char> = text.chars().collect();
            let len = chars.len() as i64;
            let start = values.get(1).and_then(Value::as_int).unwrap_or(1);
            let count = values.get(2).and_then(Value::as_int).unwrap_or(len);
            // 1-based; 0 and negatives as SQLite treats them, roughly.
            let from = if start > 0 {
                start - 1
            } else if start < 0 {
                (len + start).max(0)
            } else {
                0
            };
            let take = if start == 0 { count - 1 } else { count }.max(0);
            let from = from.clamp(0, len) as usize;
            let to = (from as i64).saturating_add(take).clamp(0, len) as usize;
            Value::Text(chars.get(from..to).unwrap_or_default().iter().collect())
        }
    })
}

/// SQL `LIKE`: `%` any run, `_` any one character, ASCII case-insensitive.
fn like(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let t: Vec<char> = text.chars().map(|c| c.to_ascii_lowercase()).collect();
    // Greedy matching with backtracking to the last `%`: linear-ish, no recursion.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('%') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '_' || Some(c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..).unwrap_or_default().iter().all(|c| *c == '%')
}

/// Runs one `SELECT` statement against `table`; the result rows.
pub fn query(sql: &str, table: &Table) -> Res<Vec<Vec<Value>>> {
    let toks = tokenize(sql)?;
    if toks.is_empty() {
        return err("incomplete input".to_string());
    }
    let select = Parser {
        toks,
        at: 0,
        depth: 0,
    }
    .statement()?;
    execute(&select, table)
}

/// A result row and the table row it came from, if it came from one row.
type Produced = (Vec<Value>, Option<usize>);

fn execute(select: &Select, table: &Table) -> Res<Vec<Vec<Value>>> {
    // Each result row keeps the table row it came from, for ORDER BY
    // expressions over the table in a simple SELECT.
    let mut rows: Vec<Produced> = Vec::new();
    let mut width = None;
    let mut names: Vec<String> = Vec::new();
    for (k, (all, core)) in select.cores.iter().enumerate() {
        let source = match &core.from {
            None => None,
            Some(name) if name.eq_ignore_ascii_case(&table.name) => Some(table),
            Some(name) => return err(format!("no such table: {}", clip(name, 40))),
        };
        let mut core_names = Vec::new();
        for col in &core.cols {
            match col {
                ResultCol::Star => match source {
                    Some(t) => core_names.extend(t.columns.iter().cloned()),
                    None => return err("no tables specified".to_string()),
                },
                ResultCol::Expr(_, name) => core_names.push(name.clone()),
            }
        }
        match width {
            None => {
                width = Some(core_names.len());
                names = core_names.clone();
            }
            Some(w) if w != core_names.len() => {
                return err(
                    "SELECTs to the left and right of UNION do not have the same \
                            number of result columns"
                        .to_string(),
                );
            }
            Some(_) => {}
        }
        let indexes: Vec<Option<usize>> = match source {
            Some(t) => (0..t.rows.len()).map(Some).collect(),
            None => alloc::vec![None],
        };
        let mut produced = Vec::new();
        for index in indexes {
            let row = source.zip(index);
            if let Some(filter) = &core.filter
                && eval(filter, row)?.truth() != Some(true)
            {
                continue;
            }
            let mut out = Vec::new();
            for col in &core.cols {
                match col {
                    ResultCol::Star => {
                        if let Some((t, i)) = row {
                            out.extend(t.rows.get(i).cloned().unwrap_or_default());
                        }
                    }
                    ResultCol::Expr(e, _) => out.push(eval(e, row)?),
                }
            }
            produced.push((out, index));
        }
        let compound = select.cores.len() > 1;
        rows.extend(
            produced
                .into_iter()
                .map(|(out, index)| (out, if compound { None } else { index })),
        );
        if k > 0 && !*all {
            // UNION: the distinct rows of everything so far, first ones kept.
            let mut seen = BTreeSet::new();
            rows.retain(|(r, _)| seen.insert(r.clone()));
        }
    }
    if !select.order.is_empty() {
        let width = width.unwrap_or(0);
        let mut keys: Vec<(Vec<Value>, Produced)> = Vec::new();
        for r in rows {
            let mut key = Vec::new();
            for (n, (e, _)) in select.order.iter().enumerate() {
                key.push(order_key(
                    e,
                    n,
                    &r,
                    &names,
                    width,
                    table,
                    select.cores.len(),
                )?);
            }
            keys.push((key, r));
        }
        keys.sort_by(|a, b| {
            for (i, (_, desc)) in select.order.iter().enumerate() {
                let ord = compare(&a.0[i], &b.0[i]);
                let ord = if *desc { ord.reverse() } else { ord };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
        rows = keys.into_iter().map(|(_, r)| r).collect();
    }
    let offset = match &select.offset {
        Some(e) => eval(e, None)?.as_int().unwrap_or(0).max(0),
        None => 0,
    };
    let limit = match &select.limit {
        Some(e) => eval(e, None)?.as_int().unwrap_or(-1),
        None => -1,
    };
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(usize::MAX);
    Ok(rows
        .into_iter()
        .map(|(r, _)| r)
        .skip(skip)
        .take(take)
        .collect())
}

fn ordinal(n: usize) -> String {
    let suffix = match n {
        1 => "st",
        2 => "nd",
        3 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn order_key(
    e: &Expr,
    n: usize,
    row: &Produced,
    names: &[String],
    width: usize,
    table: &Table,
    cores: usize,
) -> Res<Value> {
    if let Expr::Lit(Value::Int(k)) = e {
        if *k < 1 || *k as u64 > width as u64 {
            return err(format!(
                "{} ORDER BY term out of range - should be between 1 and {width}",
                ordinal(n + 1)
            ));
        }
        return Ok(row.0.get(*k as usize - 1).cloned().unwrap_or(Value::Null));
    }
    if let Expr::Column(name) | Expr::Quoted(name) = e
        && let Some(i) = names.iter().position(|c| c.eq_ignore_ascii_case(name))
    {
        return Ok(row.0.get(i).cloned().unwrap_or(Value::Null));
    }
    if cores > 1 {
        return err(format!(
            "{} ORDER BY term does not match any column in the result set",
            ordinal(n + 1)
        ));
    }
    eval(e, row.1.map(|i| (table, i)))
}
