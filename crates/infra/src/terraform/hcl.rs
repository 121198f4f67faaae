//! Writing HCL as `terraform fmt` lays it out: two-space indents, the `=`
//! of consecutive one-line attributes aligned, a blank line between
//! top-level blocks, and comments inside a block (checkov reads its skips
//! there, which HCL libraries cannot write).

use std::fmt::Write;

/// An HCL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A literal string: written escaped, `${` and `%{` included.
    Str(String),
    /// A template: `${...}` in it are interpolations; only quotes,
    /// backslashes and control characters are escaped.
    Template(String),
    /// An expression written as is: `aws_s3_bucket.artifacts.arn`.
    Raw(String),
    Number(i64),
    Bool(bool),
    List(Vec<Expr>),
    Object(Vec<(String, Expr)>),
    Call(&'static str, Vec<Expr>),
}

impl Expr {
    pub fn raw(text: impl Into<String>) -> Expr {
        Expr::Raw(text.into())
    }

    pub fn str(text: impl Into<String>) -> Expr {
        Expr::Str(text.into())
    }
}

/// A block: `resource "aws_s3_bucket" "artifacts" { ... }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub kind: String,
    pub labels: Vec<String>,
    /// Comment lines at the top of the body (`#checkov:skip=...`).
    pub comments: Vec<String>,
    pub body: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Attribute(String, Expr),
    Block(Block),
}

impl Block {
    pub fn new(kind: &str, labels: &[&str]) -> Block {
        Block {
            kind: kind.to_owned(),
            labels: labels.iter().map(|l| (*l).to_owned()).collect(),
            comments: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn attr(mut self, key: &str, value: Expr) -> Block {
        self.body.push(Item::Attribute(key.to_owned(), value));
        self
    }

    pub fn block(mut self, block: Block) -> Block {
        self.body.push(Item::Block(block));
        self
    }

    /// `f` of this block, in a chain of builder calls.
    pub fn apply(self, f: impl FnOnce(Block) -> Block) -> Block {
        f(self)
    }

    pub fn comment(mut self, line: impl Into<String>) -> Block {
        self.comments.push(line.into());
        self
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = "  ".repeat(indent);
        let _ = write!(out, "{pad}{}", self.kind);
        for label in &self.labels {
            let _ = write!(out, " {}", quoted(label, true));
        }
        if self.body.is_empty() && self.comments.is_empty() {
            out.push_str(" {}\n");
            return;
        }
        out.push_str(" {\n");
        for comment in &self.comments {
            let _ = writeln!(out, "{pad}  #{comment}");
        }
        write_items(&self.body, out, indent + 1);
        let _ = writeln!(out, "{pad}}}");
    }
}

/// Consecutive one-line attributes align their `=`; a multi-line value or
/// a block ends the run, and a blank line sets a block apart.
fn write_items(items: &[Item], out: &mut String, indent: usize) {
    let pad = "  ".repeat(indent);
    let mut index = 0;
    let mut previous_was_block = false;
    while index < items.len() {
        match &items[index] {
            Item::Block(block) => {
                if index > 0 {
                    out.push('\n');
                }
                block.write(out, indent);
                previous_was_block = true;
                index += 1;
            }
            Item::Attribute(..) => {
                if previous_was_block {
                    out.push('\n');
                }
                previous_was_block = false;
                let mut run = Vec::new();
                while let Some(Item::Attribute(key, value)) = items.get(index) {
                    let text = expression(value, indent);
                    let multi_line = text.contains('\n');
                    run.push((key, text));
                    index += 1;
                    if multi_line {
                        break;
                    }
                }
                // A multi-line value ends the run; terraform fmt aligns the
                // one-line ones before it with it.
                let width = run.iter().map(|(key, _)| key_text(key).len()).max().unwrap_or(0);
                for (key, text) in run {
                    let key = key_text(key);
                    let _ = writeln!(out, "{pad}{key:<width$} = {text}");
                }
            }
        }
    }
}

fn key_text(key: &str) -> String {
    if is_identifier(key) {
        key.to_owned()
    } else {
        quoted(key, true)
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A quoted string; `literal` escapes template markers too.
fn quoted(text: &str, literal: bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if literal && chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs of entries whose `=` align: a multi-line value ends its run, as
/// `terraform fmt` has it.
fn alignment_runs(entries: &[(String, String)]) -> Vec<&[(String, String)]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for (index, (_, value)) in entries.iter().enumerate() {
        if value.contains('\n') {
            runs.push(&entries[start..=index]);
            start = index + 1;
        }
    }
    if start < entries.len() {
        runs.push(&entries[start..]);
    }
    runs
}

/// Lists and objects that fit stay on one line; longer ones take a line
/// per item.
const WIDTH: usize = 100;

fn expression(expr: &Expr, indent: usize) -> String {
    let one_line = flat(expr);
    if !one_line.contains('\n') && one_line.len() + indent * 2 <= WIDTH {
        return one_line;
    }
    let pad = "  ".repeat(indent);
    match expr {
        Expr::List(items) => {
            let mut out = String::from("[\n");
            for item in items {
                let _ = writeln!(out, "{pad}  {},", expression(item, indent + 1));
            }
            let _ = write!(out, "{pad}]");
            out
        }
        Expr::Object(entries) => {
            let rendered: Vec<(String, String)> =
                entries.iter().map(|(key, value)| (key_text(key), expression(value, indent + 1))).collect();
            let mut out = String::from("{\n");
            for run in alignment_runs(&rendered) {
                let width = run.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
                for (key, value) in run {
                    let _ = writeln!(out, "{pad}  {key:<width$} = {value}");
                }
            }
            let _ = write!(out, "{pad}}}");
            out
        }
        Expr::Call(name, args) if !args.is_empty() => {
            // The last argument hugs the parentheses: `jsonencode({`.
            let mut out = format!("{name}(");
            for arg in &args[..args.len() - 1] {
                let _ = write!(out, "{}, ", flat(arg));
            }
            out.push_str(&expression(&args[args.len() - 1], indent));
            out.push(')');
            out
        }
        _ => one_line,
    }
}

fn flat(expr: &Expr) -> String {
    match expr {
        Expr::Str(text) => quoted(text, true),
        Expr::Template(text) => quoted(text, false),
        Expr::Raw(text) => text.clone(),
        Expr::Number(n) => n.to_string(),
        Expr::Bool(b) => b.to_string(),
        Expr::List(items) => format!("[{}]", items.iter().map(flat).collect::<Vec<_>>().join(", ")),
        Expr::Object(entries) if entries.is_empty() => "{}".to_owned(),
        Expr::Object(entries) => format!(
            "{{ {} }}",
            entries
                .iter()
                .map(|(key, value)| format!("{} = {}", key_text(key), flat(value)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Expr::Call(name, args) => format!("{name}({})", args.iter().map(flat).collect::<Vec<_>>().join(", ")),
    }
}

/// A file of top-level blocks, each after its own comment lines.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct File {
    pub header: Vec<String>,
    pub blocks: Vec<Block>,
}

impl File {
    pub fn push(&mut self, block: Block) {
        self.blocks.push(block);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            let _ = writeln!(out, "# {line}");
        }
        for (index, block) in self.blocks.iter().enumerate() {
            if index > 0 || !self.header.is_empty() {
                out.push('\n');
            }
            block.write(&mut out, 0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_templates_keep_their_interpolations() {
        assert_eq!(flat(&Expr::str("a \"b\" ${c} %{d}\n")), r#""a \"b\" $${c} %%{d}\n""#);
        assert_eq!(
            flat(&Expr::Template("arn:${data.aws_partition.current.partition}:s3".into())),
            r#""arn:${data.aws_partition.current.partition}:s3""#
        );
    }

    #[test]
    fn blocks_align_their_attributes_and_comment_inside() {
        let block = Block::new("resource", &["aws_s3_bucket", "artifacts"])
            .comment("checkov:skip=CKV_AWS_18:no second bucket")
            .attr("bucket", Expr::str("b"))
            .attr("force_destroy", Expr::Bool(false))
            .block(Block::new("lifecycle", &[]).attr("prevent_destroy", Expr::Bool(true)));
        let mut file = File::default();
        file.push(block);
        assert_eq!(
            file.render(),
            "resource \"aws_s3_bucket\" \"artifacts\" {\n  #checkov:skip=CKV_AWS_18:no second bucket\n  bucket        = \"b\"\n  force_destroy = false\n\n  lifecycle {\n    prevent_destroy = true\n  }\n}\n"
        );
    }

    #[test]
    fn long_values_take_a_line_per_item() {
        let long: Vec<Expr> = (0..12).map(|i| Expr::str(format!("item-number-{i}"))).collect();
        let text = expression(&Expr::List(long), 1);
        assert!(text.starts_with("[\n    \"item-number-0\",\n"), "{text}");
        assert!(text.ends_with("\n  ]"), "{text}");
    }
}
