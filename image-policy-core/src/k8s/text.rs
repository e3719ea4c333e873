//! The string leaf of the object types: [`Text`], and [`CowStr`], the leaf
//! that borrows from the input whenever it can.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A string leaf of the object types: anything that can show its text.
///
/// [`AsRef<str>`] would do, but `serde_saphyr::Spanned<String>` (the leaf the
/// linter uses to keep line and column) does not implement it, and the orphan
/// rule keeps us from adding it; this trait is implemented for it here.
pub trait Text {
    /// The text of the leaf.
    fn as_str(&self) -> &str;
}

impl Text for str {
    fn as_str(&self) -> &str {
        self
    }
}

impl Text for String {
    fn as_str(&self) -> &str {
        self
    }
}

impl Text for &str {
    fn as_str(&self) -> &str {
        self
    }
}

impl Text for Cow<'_, str> {
    fn as_str(&self) -> &str {
        self
    }
}

impl Text for CowStr<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(feature = "yaml")]
impl<T: Text> Text for serde_saphyr::Spanned<T> {
    fn as_str(&self) -> &str {
        self.value.as_str()
    }
}

/// A string that borrows from the input when the input has it verbatim, and
/// owns a copy only when it had to be unescaped (`"a\u0041"`).
///
/// Serde's own `Deserialize` for `Cow<str>` always allocates unless the field
/// is marked `#[serde(borrow)]`, which a generic field cannot be; this type
/// borrows on its own, so `Object<CowStr<'a>>` decoded with `serde_json`
/// allocates nothing for the strings of a typical object.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CowStr<'a>(pub Cow<'a, str>);

impl<'a> CowStr<'a> {
    /// The string, borrowed or owned as it was decoded.
    pub fn into_inner(self) -> Cow<'a, str> {
        self.0
    }
}

impl Deref for CowStr<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for CowStr<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for CowStr<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for CowStr<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl fmt::Debug for CowStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for CowStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> From<&'a str> for CowStr<'a> {
    fn from(s: &'a str) -> Self {
        CowStr(Cow::Borrowed(s))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CowStrVisitor;

        impl<'de> Visitor<'de> for CowStrVisitor {
            type Value = CowStr<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(CowStrVisitor)
    }
}
