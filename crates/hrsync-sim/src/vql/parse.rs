//! The simulator's subset of VQL:
//! `SELECT f1, f2… FROM <object> [WHERE <field> = '<literal>'] [PAGESIZE n] [PAGEOFFSET m]`
//! (the two page clauses in either order, each at most once). Keywords in any case, field
//! and object names exact (Vault's names are case-sensitive), one equality, `\'` and `\\`
//! as the only escapes in the literal. Anything else is an error naming what was expected.

use super::fields::{self, Column, Filter, Object};

/// VQL's default and largest page size; a larger `PAGESIZE` is treated as this.
pub(super) const MAX_PAGE_SIZE: usize = 1000;

/// A parsed query.
#[derive(Debug)]
pub(super) struct Query {
    pub object: Object,
    /// The `SELECT` list, in the order written.
    pub columns: Vec<Column>,
    pub filter: Option<Filter>,
    /// The effective page size: `PAGESIZE` capped at [`MAX_PAGE_SIZE`], that if absent.
    pub page_size: usize,
    /// `PAGEOFFSET` as written (manual pagination), if any.
    pub page_offset: Option<usize>,
}

pub(super) fn parse(q: &str) -> Result<Query, String> {
    let mut cursor = Cursor(q);
    cursor.keyword("SELECT")?;
    let names = select_list(&mut cursor)?;
    cursor.keyword("FROM")?;
    let object = match cursor.word() {
        Some(name) => Object::named(name).ok_or_else(|| format!("no queryable object {name}"))?,
        None => return Err("expected an object after FROM".into()),
    };
    let columns = names
        .iter()
        .map(|name| fields::column(object, name))
        .collect::<Result<_, _>>()?;
    let filter = if cursor.optional_keyword("WHERE") {
        Some(condition(&mut cursor, object)?)
    } else {
        None
    };
    let (page_size, page_offset) = page_clauses(&mut cursor)?;
    cursor.end()?;
    Ok(Query {
        object,
        columns,
        filter,
        page_size: page_size.map_or(MAX_PAGE_SIZE, |n| n.min(MAX_PAGE_SIZE)),
        page_offset,
    })
}

/// The object after `SELECT … FROM`, whatever is selected (so a query on `person__sys`
/// is told apart before it is checked).
pub(super) fn queried_object(q: &str) -> Option<&str> {
    let mut cursor = Cursor(q);
    cursor.keyword("SELECT").ok()?;
    select_list(&mut cursor).ok()?;
    cursor.keyword("FROM").ok()?;
    cursor.word()
}

/// `f1, f2, …`: at least one name.
fn select_list<'a>(cursor: &mut Cursor<'a>) -> Result<Vec<&'a str>, String> {
    let mut names = vec![cursor.word().ok_or("expected a field after SELECT")?];
    while cursor.optional_symbol(',') {
        names.push(cursor.word().ok_or("expected a field after `,`")?);
    }
    Ok(names)
}

/// `<field> = '<literal>'`.
fn condition(cursor: &mut Cursor<'_>, object: Object) -> Result<Filter, String> {
    let field = cursor.word().ok_or("expected a field after WHERE")?;
    let (key, case_insensitive) = fields::where_key(object, field)?;
    cursor.symbol('=')?;
    let value = cursor.literal()?;
    Ok(Filter {
        key,
        case_insensitive,
        value,
    })
}

/// `PAGESIZE n` and `PAGEOFFSET m`, in either order, each at most once.
fn page_clauses(cursor: &mut Cursor<'_>) -> Result<(Option<usize>, Option<usize>), String> {
    let (mut size, mut offset) = (None, None);
    loop {
        let slot = if cursor.optional_keyword("PAGESIZE") {
            &mut size
        } else if cursor.optional_keyword("PAGEOFFSET") {
            &mut offset
        } else {
            return Ok((size, offset));
        };
        if slot.is_some() {
            return Err("PAGESIZE and PAGEOFFSET may each appear once".into());
        }
        *slot = Some(cursor.number()?);
    }
}

/// A left-to-right reader of the query text.
struct Cursor<'a>(&'a str);

impl<'a> Cursor<'a> {
    /// The next identifier (letters, digits, `_`), after whitespace.
    fn word(&mut self) -> Option<&'a str> {
        let rest = self.0.trim_start();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (word, tail) = rest.split_at(end);
        self.0 = tail;
        (!word.is_empty()).then_some(word)
    }

    /// A keyword, in any case.
    fn keyword(&mut self, keyword: &str) -> Result<(), String> {
        match self.word() {
            Some(word) if word.eq_ignore_ascii_case(keyword) => Ok(()),
            other => Err(format!("expected {keyword}, found {other:?}")),
        }
    }

    /// Consumes `keyword` if it comes next; otherwise reads nothing.
    fn optional_keyword(&mut self, keyword: &str) -> bool {
        let before = self.0;
        if self.keyword(keyword).is_ok() {
            return true;
        }
        self.0 = before;
        false
    }

    fn symbol(&mut self, symbol: char) -> Result<(), String> {
        let rest = self.0.trim_start();
        self.0 = rest
            .strip_prefix(symbol)
            .ok_or_else(|| format!("expected `{symbol}`"))?;
        Ok(())
    }

    fn optional_symbol(&mut self, symbol: char) -> bool {
        let before = self.0;
        if self.symbol(symbol).is_ok() {
            return true;
        }
        self.0 = before;
        false
    }

    /// A non-negative whole number.
    fn number(&mut self) -> Result<usize, String> {
        let word = self.word().ok_or("expected a number")?;
        word.parse()
            .map_err(|_| format!("expected a number, found {word:?}"))
    }

    /// A single-quoted string; `\'` is a quote and `\\` a backslash.
    fn literal(&mut self) -> Result<String, String> {
        self.symbol('\'')?;
        let mut value = String::new();
        let mut chars = self.0.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' => {
                    self.0 = &self.0[i + 1..];
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('\'' | '\\'))) => value.push(escaped),
                    other => return Err(format!("unsupported escape \\{:?}", other.map(|o| o.1))),
                },
                c => value.push(c),
            }
        }
        Err("unterminated string literal".into())
    }

    fn end(&self) -> Result<(), String> {
        match self.0.trim() {
            "" => Ok(()),
            rest => Err(format!("unexpected {rest:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(query: &Query) -> Vec<&'static str> {
        query.columns.iter().map(|c| c.name).collect()
    }

    #[test]
    fn parses_escapes_and_keywords_in_any_case() {
        let q = parse(r"select id from users where user_name__v = 'o\'brien\\x@a.b'").unwrap();
        assert_eq!(q.object, Object::Users);
        let filter = q.filter.unwrap();
        assert_eq!(filter.key, "user_name__v");
        assert_eq!(filter.value, r"o'brien\x@a.b");
        let q = parse("SELECT id FROM person__sys WHERE federated_id__sys='F-1'").unwrap();
        let filter = q.filter.unwrap();
        assert_eq!(
            (q.object, filter.key, filter.case_insensitive),
            (Object::Persons, "federated_id", false)
        );
    }

    #[test]
    fn parses_select_lists_and_page_clauses() {
        let q = parse("SELECT user_email__v, id FROM users pageoffset 10 PAGESIZE 5000").unwrap();
        assert_eq!(names(&q), ["user_email__v", "id"]);
        assert_eq!((q.page_size, q.page_offset), (1000, Some(10)));
        assert!(q.filter.is_none());
        let q = parse("SELECT id,status__v FROM person__sys WHERE email__sys = 'a' PAGESIZE 2")
            .unwrap();
        assert_eq!(names(&q), ["id", "status__v"]);
        assert_eq!((q.page_size, q.page_offset), (2, None));
        assert_eq!(parse("SELECT id FROM users").unwrap().page_size, 1000);
    }

    #[test]
    fn refuses_what_it_does_not_simulate() {
        for q in [
            "SELECT id, shoe_size__v FROM users",
            "SELECT id, vault_membership FROM users",
            "SELECT id, user_name__v FROM person__sys",
            "SELECT FROM users",
            "SELECT id, FROM users",
            "SELECT id FROM users WHERE alias__v = 'a'",
            "SELECT id FROM users WHERE user_name__v = 'a' AND user_email__v = 'b'",
            "SELECT id FROM users WHERE user_name__v = 'a",
            r"SELECT id FROM users WHERE user_name__v = 'a\n'",
            "SELECT id FROM documents WHERE name__v = 'a'",
            "SELECT id FROM users PAGESIZE -1",
            "SELECT id FROM users PAGESIZE 10 PAGESIZE 20",
            "SELECT id FROM users PAGEOFFSET",
            "SELECT id FROM users ORDER BY id",
        ] {
            assert!(parse(q).is_err(), "{q}");
        }
        assert_eq!(
            queried_object("SELECT id FROM person__sys WHERE x"),
            Some("person__sys")
        );
        assert_eq!(
            queried_object("SELECT id, nonsense FROM person__sys"),
            Some("person__sys")
        );
    }
}
