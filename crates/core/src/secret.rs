//! [`Secret`]: the one type that holds secret text (an API key, a session token, a password)
//! inside Keyhaven.
//!
//! It is wiped on drop, its `Debug` is redacted, and it has neither `Display` nor `Serialize`:
//! printing or serialising one is a compile error, not a runtime surprise. The assertions at the
//! bottom of this file keep it that way. Each call to [`Secret::expose`] is a place where a secret
//! is handled on purpose.

use std::fmt;

use keyhaven_api::WireSecret;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Secret text. Wiped on drop; cannot be printed or serialised.
pub struct Secret(String);

impl Secret {
    /// Takes ownership of `value` without copying it.
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// A secret arriving from the wire, handed over without a copy.
    pub fn from_wire(wire: WireSecret) -> Secret {
        Secret(wire.into_inner())
    }

    /// A copy for sending over the wire (a password at login).
    pub fn to_wire(&self) -> WireSecret {
        WireSecret::new(self.0.clone())
    }

    /// The secret's text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares in time that does not depend on where the two secrets differ.
    pub fn constant_time_eq(&self, other: &Secret) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Clone for Secret {
    fn clone(&self) -> Secret {
        Secret(self.0.clone())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.constant_time_eq(other)
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl From<WireSecret> for Secret {
    fn from(wire: WireSecret) -> Secret {
        Secret::from_wire(wire)
    }
}

/// Compile-time proof that `Secret` implements neither `Serialize` nor `Display`: if either impl
/// is ever added, the method paths below become ambiguous and the crate stops compiling.
/// (The technique of `static_assertions::assert_not_impl_any!`.)
#[allow(dead_code)]
mod never_printable {
    use super::Secret;

    trait AmbiguousIfSerialize<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfSerialize<()> for T {}
    struct Serialisable;
    impl<T: ?Sized + serde::Serialize> AmbiguousIfSerialize<Serialisable> for T {}

    trait AmbiguousIfDisplay<A> {
        fn some_item() {}
    }
    impl<T: ?Sized> AmbiguousIfDisplay<()> for T {}
    struct Displayable;
    impl<T: ?Sized + std::fmt::Display> AmbiguousIfDisplay<Displayable> for T {}

    const _: fn() = || {
        let _ = <Secret as AmbiguousIfSerialize<_>>::some_item;
        let _ = <Secret as AmbiguousIfDisplay<_>>::some_item;
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::new("kh_live_supersecretvalue123".into());
        let printed = format!("{s:?} {:?}", Some(&s));
        assert!(!printed.contains("supersecret"), "{printed}");
        assert!(printed.contains("Secret(<redacted>)"));
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            token: Secret,
        }
        let nested = format!("{:#?}", Holder { token: s.clone() });
        assert!(!nested.contains("supersecret"), "{nested}");
    }

    #[test]
    fn wire_round_trip_keeps_the_value() {
        let s = Secret::from_wire(WireSecret::new("pässword".into()));
        assert_eq!(s.expose(), "pässword");
        assert_eq!(s.to_wire().expose(), "pässword");
        assert_eq!(s.len(), "pässword".len());
        assert!(!s.is_empty());
    }

    #[test]
    fn equality_compares_contents() {
        let a = Secret::new("abc".into());
        assert_eq!(a, Secret::new("abc".into()));
        assert_ne!(a, Secret::new("abd".into()));
        assert_ne!(a, Secret::new("abcd".into()));
    }
}
