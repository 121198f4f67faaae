//! A threshold expression (`p(95)<300`) as `Expression::from_str` reads it:
//! whatever parses re-renders as k6 text that parses to the same value, and
//! every error renders with its caret.

#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgrid_thresholds::Expression;

fuzz_target!(|text: &str| {
    match text.parse::<Expression>() {
        Ok(expression) => {
            let rendered = expression.to_string();
            let again: Expression = rendered.parse().unwrap_or_else(|e| panic!("`{rendered}` does not read back: {e}"));
            assert_eq!(again, expression, "`{text}` rendered as `{rendered}`");
        }
        Err(error) => {
            error.render();
        }
    }
});
