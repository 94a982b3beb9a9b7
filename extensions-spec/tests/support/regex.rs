//! A small backtracking regular-expression matcher covering the ECMA-262
//! subset the schemas use: `^ $ . ( | ) [...] [^...]`, ranges, `\s \d \w`
//! and escaped punctuation, and the quantifiers `* + ? {n} {n,} {n,m}`.
//! Anything else panics, so a schema cannot silently use an unchecked feature.

#[derive(Debug, Clone)]
enum Atom {
    Char(char),
    Any,
    Class { negated: bool, items: Vec<ClassItem> },
    Group(Vec<Vec<Piece>>),
    Start,
    End,
}

#[derive(Debug, Clone)]
enum ClassItem {
    Range(char, char),
    Space,
    Digit,
    Word,
}

#[derive(Debug, Clone)]
struct Piece {
    atom: Atom,
    min: usize,
    max: usize,
}

pub struct Regex {
    alternatives: Vec<Vec<Piece>>,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    source: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> char {
        let c = self.chars.get(self.pos).copied();
        self.pos += 1;
        c.unwrap_or_else(|| panic!("unexpected end of pattern {:?}", self.source))
    }

    fn alternatives(&mut self) -> Vec<Vec<Piece>> {
        let mut alts = vec![self.sequence()];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.sequence());
        }
        alts
    }

    fn sequence(&mut self) -> Vec<Piece> {
        let mut pieces = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom();
            let (min, max) = self.quantifier();
            pieces.push(Piece { atom, min, max });
        }
        pieces
    }

    fn atom(&mut self) -> Atom {
        match self.next() {
            '^' => Atom::Start,
            '$' => Atom::End,
            '.' => Atom::Any,
            '(' => {
                if self.peek() == Some('?') {
                    panic!("group extensions are not supported: {:?}", self.source);
                }
                let alts = self.alternatives();
                assert_eq!(self.next(), ')', "unclosed group in {:?}", self.source);
                Atom::Group(alts)
            }
            '[' => self.class(),
            '\\' => match self.escape() {
                ClassItem::Range(a, _) => Atom::Char(a),
                other => Atom::Class { negated: false, items: vec![other] },
            },
            c @ ('*' | '+' | '?' | '{' | ')' | ']' | '}') => {
                panic!("unexpected {c:?} in {:?}", self.source)
            }
            c => Atom::Char(c),
        }
    }

    fn escape(&mut self) -> ClassItem {
        match self.next() {
            's' => ClassItem::Space,
            'd' => ClassItem::Digit,
            'w' => ClassItem::Word,
            c if c.is_ascii_punctuation() => ClassItem::Range(c, c),
            c => panic!("unsupported escape \\{c} in {:?}", self.source),
        }
    }

    fn class(&mut self) -> Atom {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut items = Vec::new();
        loop {
            let c = self.next();
            if c == ']' && !items.is_empty() {
                break;
            }
            let item = if c == '\\' { self.escape() } else { ClassItem::Range(c, c) };
            let item = match item {
                ClassItem::Range(lo, _) if self.peek() == Some('-') && self.chars.get(self.pos + 1) != Some(&']') => {
                    self.pos += 1;
                    let hi = match self.next() {
                        '\\' => match self.escape() {
                            ClassItem::Range(h, _) => h,
                            _ => panic!("bad range in {:?}", self.source),
                        },
                        h => h,
                    };
                    ClassItem::Range(lo, hi)
                }
                other => other,
            };
            items.push(item);
        }
        Atom::Class { negated, items }
    }

    fn number(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.chars[start..self.pos]
            .iter()
            .collect::<String>()
            .parse()
            .unwrap_or_else(|_| panic!("bad quantifier in {:?}", self.source))
    }

    fn quantifier(&mut self) -> (usize, usize) {
        match self.peek() {
            Some('*') => {
                self.pos += 1;
                (0, usize::MAX)
            }
            Some('+') => {
                self.pos += 1;
                (1, usize::MAX)
            }
            Some('?') => {
                self.pos += 1;
                (0, 1)
            }
            Some('{') => {
                self.pos += 1;
                let min = self.number();
                let max = match self.next() {
                    '}' => return (min, min),
                    ',' if self.peek() == Some('}') => usize::MAX,
                    ',' => self.number(),
                    _ => panic!("bad quantifier in {:?}", self.source),
                };
                assert_eq!(self.next(), '}', "bad quantifier in {:?}", self.source);
                (min, max)
            }
            _ => (1, 1),
        }
    }
}

impl Regex {
    pub fn new(pattern: &str) -> Regex {
        let mut parser = Parser { chars: pattern.chars().collect(), pos: 0, source: pattern };
        let alternatives = parser.alternatives();
        assert!(parser.pos == parser.chars.len(), "trailing input in {pattern:?}");
        Regex { alternatives }
    }

    /// ECMA-262 `test`: a match anywhere unless anchored.
    pub fn is_match(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        (0..=chars.len()).any(|start| match_alts(&self.alternatives, &chars, start, &mut |_| true))
    }
}

fn class_matches(items: &[ClassItem], c: char) -> bool {
    items.iter().any(|item| match item {
        ClassItem::Range(lo, hi) => (*lo..=*hi).contains(&c),
        ClassItem::Space => c.is_whitespace(),
        ClassItem::Digit => c.is_ascii_digit(),
        ClassItem::Word => c.is_ascii_alphanumeric() || c == '_',
    })
}

fn match_alts(alts: &[Vec<Piece>], text: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    alts.iter().any(|seq| match_seq(seq, text, pos, k))
}

fn match_seq(seq: &[Piece], text: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    let Some((first, rest)) = seq.split_first() else {
        return k(pos);
    };
    match_repeat(first, 0, rest, text, pos, k)
}

/// Greedy repetition with backtracking: try one more occurrence first, then
/// hand over to the rest of the sequence once the minimum is met.
fn match_repeat(
    piece: &Piece,
    count: usize,
    rest: &[Piece],
    text: &[char],
    pos: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    if count < piece.max {
        let mut more = |next: usize| {
            // Past the minimum, an iteration that consumed nothing cannot
            // make progress; refusing it stops `(a*)*` from looping forever.
            (next != pos || count < piece.min) && match_repeat(piece, count + 1, rest, text, next, k)
        };
        if match_atom(&piece.atom, text, pos, &mut more) {
            return true;
        }
    }
    count >= piece.min && match_seq(rest, text, pos, k)
}

fn match_atom(atom: &Atom, text: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match atom {
        Atom::Start => pos == 0 && k(pos),
        Atom::End => pos == text.len() && k(pos),
        Atom::Any => pos < text.len() && text[pos] != '\n' && k(pos + 1),
        Atom::Char(c) => text.get(pos) == Some(c) && k(pos + 1),
        Atom::Class { negated, items } => pos < text.len() && class_matches(items, text[pos]) != *negated && k(pos + 1),
        Atom::Group(alts) => match_alts(alts, text, pos, k),
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    #[test]
    fn the_subset_behaves_like_ecma() {
        let cases: &[(&str, &str, bool)] = &[
            ("^(0|[1-9][0-9]{0,19})$", "0", true),
            ("^(0|[1-9][0-9]{0,19})$", "2112", true),
            ("^(0|[1-9][0-9]{0,19})$", "012", false),
            ("^(0|[1-9][0-9]{0,19})$", "123456789012345678901", false),
            ("^@[^:\\s]+:[A-Za-z0-9.:\\[\\]-]+$", "@a:example.org", true),
            ("^@[^:\\s]+:[A-Za-z0-9.:\\[\\]-]+$", "@a b:example.org", false),
            ("^mxc://", "mxc://x/y", true),
            ("^mxc://", "https://x", false),
            ("\\.", "org.example", true),
            ("\\.", "plain", false),
            ("^[^:/ ]{1,3}$", "abc", true),
            ("^[^:/ ]{1,3}$", "a:c", false),
            ("^(ab)+c?$", "ababc", true),
            ("^(ab)+c?$", "abac", false),
            ("^a*$", "", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(Regex::new(pattern).is_match(text), *expected, "{pattern} on {text}");
        }
    }
}
