//! A change set as a readable diff: one line per resource, `+` added, `~`
//! modified (with the properties that change and whether the resource is
//! replaced), `-` removed.

use std::fmt::Write;

use crate::template::Template;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `Add`, `Modify`, `Remove`, `Import`, `Dynamic` (CloudFormation's words).
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    /// `True`, `False` or `Conditional`, for modifications.
    pub replacement: Option<String>,
    /// Properties (or attributes) that change.
    pub properties: Vec<String>,
}

/// What creating the stack from `template` adds: every resource.
pub fn for_new_stack(template: &Template) -> Vec<Change> {
    template
        .resource_ids()
        .map(|(id, kind)| Change {
            action: "Add".into(),
            logical_id: id.into(),
            resource_type: kind.into(),
            replacement: None,
            properties: Vec::new(),
        })
        .collect()
}

pub fn render(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "no changes: the stack matches the template\n".to_owned();
    }
    let width = changes.iter().map(|c| c.logical_id.len()).max().unwrap_or(0);
    let mut text = String::new();
    for change in changes {
        let sign = match change.action.as_str() {
            "Add" | "Import" => '+',
            "Remove" => '-',
            _ => '~',
        };
        let _ = write!(text, "{sign} {:width$}  {}", change.logical_id, change.resource_type);
        match change.replacement.as_deref() {
            Some("True") => text.push_str("  (REPLACED: a new resource, the old one deleted)"),
            Some("Conditional") => text.push_str("  (may be replaced)"),
            _ => {}
        }
        if !change.properties.is_empty() {
            let _ = write!(text, "  [{}]", change.properties.join(", "));
        }
        text.push('\n');
    }
    let count = |sign: &[&str]| changes.iter().filter(|c| sign.contains(&c.action.as_str())).count();
    let _ = writeln!(
        text,
        "{} to add, {} to change, {} to remove",
        count(&["Add", "Import"]),
        count(&["Modify", "Dynamic"]),
        count(&["Remove"])
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(action: &str, id: &str, replacement: Option<&str>, properties: &[&str]) -> Change {
        Change {
            action: action.into(),
            logical_id: id.into(),
            resource_type: "AWS::X::Y".into(),
            replacement: replacement.map(str::to_owned),
            properties: properties.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn a_diff_shows_what_changes_and_what_is_replaced() {
        let text = render(&[
            change("Add", "Dashboard", None, &[]),
            change("Modify", "TaskDefinition", Some("True"), &["Cpu", "Memory"]),
            change("Modify", "LogGroup", Some("False"), &["RetentionInDays"]),
            change("Remove", "OldThing", None, &[]),
        ]);
        assert!(text.contains("+ Dashboard"), "{text}");
        assert!(text.contains("~ TaskDefinition  AWS::X::Y  (REPLACED"), "{text}");
        assert!(text.contains("[Cpu, Memory]"), "{text}");
        assert!(text.contains("~ LogGroup        AWS::X::Y  [RetentionInDays]"), "{text}");
        assert!(text.contains("- OldThing"), "{text}");
        assert!(text.ends_with("1 to add, 2 to change, 1 to remove\n"), "{text}");
        assert_eq!(render(&[]), "no changes: the stack matches the template\n");
    }
}
