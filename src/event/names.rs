//! Closed sets of names spelled as JSON strings: the event types, the actors, and (through
//! [`string_enum!`]) every enumerated payload field.
//!
//! Invariant: each enum (de)serializes as exactly one of its spellings and nothing else. The
//! macro writes the serde impls by hand because derived unit-variant enums would also accept
//! `serde_json`'s map form (`{"READ": null}`), which FR-EVT.md does not allow.

/// Declares a fieldless enum whose values are the given JSON strings, with `as_str`, `ALL`,
/// `NAMES`, `Display`, `FromStr`, serde impls that accept only those strings, and the OpenAPI
/// schema of those strings.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* #[doc = concat!("`", $text, "`")] $variant ),+
        }

        impl $name {
            /// Number of values.
            pub const COUNT: usize = [$($text),+].len();
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];
            /// Every JSON spelling, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The JSON spelling.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }

            /// The value spelled `name`, if any.
            #[must_use]
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }
        }

        /// A string that is one of [`Self::NAMES`] (the OpenAPI document's schema).
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .enum_values(Some($name::NAMES.iter().copied()))
                    .into()
            }
        }

        impl ::utoipa::ToSchema for $name {}

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::event::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_name(s).ok_or_else(|| $crate::event::UnknownName {
                    what: $what,
                    name: s.to_owned(),
                    expected: Self::NAMES,
                })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl ::serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                        write!(f, "one of the strings {:?}", $name::NAMES)
                    }
                    fn visit_str<E: ::serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::from_name(v).ok_or_else(|| E::unknown_variant(v, $name::NAMES))
                    }
                }
                d.deserialize_str(V)
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// The eleven event types of FR-EVT.md (the envelope's `type`).
    pub enum EventType("event type") {
        /// FR-EVT-001.
        TerminalCommand = "terminal_command",
        /// FR-EVT-002.
        EditorEdit = "editor_edit",
        /// FR-EVT-003.
        Diagnostic = "diagnostic",
        /// FR-EVT-005.
        DebugBundleExport = "debug_bundle_export",
        /// FR-EVT-006.
        LlmInference = "llm_inference",
        /// FR-EVT-007.
        ToolCall = "tool_call",
        /// FR-EVT-WF-RECOVERY.
        WorkflowRecovery = "workflow_recovery",
        /// Extension: job spans.
        JobLifecycle = "job_lifecycle",
        /// Extension: capability decisions.
        CapabilityDecision = "capability_decision",
        /// Extension: an OpenTelemetry span that is no model call, tool call or decision.
        Span = "span",
        /// Extension: an OpenTelemetry log record.
        Log = "log",
    }
}

impl EventType {
    /// True for the types whose envelope must carry a caller-given `trace_id`.
    #[must_use]
    pub const fn requires_trace_id(self) -> bool {
        matches!(self, EventType::LlmInference | EventType::ToolCall)
    }
}

string_enum! {
    /// Who caused the event (the envelope's `actor`).
    pub enum Actor("actor") {
        Human = "human",
        Agent = "agent",
        System = "system",
    }
}
