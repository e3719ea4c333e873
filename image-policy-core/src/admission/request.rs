//! What [`decide`](super::decide) and [`mutate`](super::mutate()) read of an
//! admission request.

use crate::k8s::{Object, Text};

/// The operation of an admission request (`request.operation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation<'a> {
    /// `CREATE`.
    Create,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
    /// `CONNECT`.
    Connect,
    /// Any other string (or none: `""`): denied as a bad request.
    Unknown(&'a str),
}

impl<'a> Operation<'a> {
    /// Reads `request.operation` as the API server writes it (`CREATE`, ...).
    pub fn parse(s: &'a str) -> Self {
        match s {
            "CREATE" => Self::Create,
            "UPDATE" => Self::Update,
            "DELETE" => Self::Delete,
            "CONNECT" => Self::Connect,
            other => Self::Unknown(other),
        }
    }

    /// The operation as the API server writes it.
    pub fn as_str(self) -> &'a str {
        match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Unknown(s) => s,
        }
    }
}

/// What [`decide`](super::decide) reads of an admission request. Made with [`Request::new`]
/// and completed with the builder methods; everything but the operation and
/// the object is optional.
#[derive(Debug)]
#[non_exhaustive]
pub struct Request<'a, S> {
    /// `request.operation`.
    pub operation: Operation<'a>,
    /// `request.object` (absent on DELETE).
    pub object: Option<&'a Object<S>>,
    /// `request.oldObject` (on UPDATE and DELETE).
    pub old_object: Option<&'a Object<S>>,
    /// `request.namespace`; when absent, the object's `metadata.namespace`.
    pub namespace: Option<&'a str>,
    /// `request.kind.kind`, used when the object has no kind.
    pub kind: Option<&'a str>,
    /// `request.name`, used when the object has no name.
    pub name: Option<&'a str>,
    /// `request.resource.resource`, named when the images cannot be found.
    pub resource: Option<&'a str>,
    /// `request.subResource`, likewise.
    pub sub_resource: Option<&'a str>,
}

// Derived `Clone`/`Copy` would require `S: Copy`; a `Request` is references.
impl<S> Clone for Request<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for Request<'_, S> {}

impl<'a, S> Request<'a, S> {
    /// A request for `operation` on `object`.
    pub fn new(operation: Operation<'a>, object: Option<&'a Object<S>>) -> Self {
        Request {
            operation,
            object,
            old_object: None,
            namespace: None,
            kind: None,
            name: None,
            resource: None,
            sub_resource: None,
        }
    }

    /// Sets `oldObject`.
    pub fn old_object(self, old_object: Option<&'a Object<S>>) -> Self {
        Request { old_object, ..self }
    }

    /// Sets `request.namespace`.
    pub fn namespace(self, namespace: Option<&'a str>) -> Self {
        Request { namespace, ..self }
    }

    /// Sets `request.kind.kind`.
    pub fn kind(self, kind: Option<&'a str>) -> Self {
        Request { kind, ..self }
    }

    /// Sets `request.name`.
    pub fn name(self, name: Option<&'a str>) -> Self {
        Request { name, ..self }
    }

    /// Sets `request.resource.resource` and `request.subResource`.
    pub fn resource(self, resource: Option<&'a str>, sub_resource: Option<&'a str>) -> Self {
        Request {
            resource,
            sub_resource,
            ..self
        }
    }
}

impl<'a, S: Text> Request<'a, S> {
    /// The object's `kind`, or else `request.kind.kind`.
    pub fn object_kind(&self) -> Option<&'a str> {
        self.object.and_then(Object::kind).or(self.kind)
    }

    /// `request.namespace`, or else the object's `metadata.namespace`: the
    /// namespace the policy is asked about.
    pub fn object_namespace(&self) -> Option<&'a str> {
        self.namespace.or(self.object.and_then(Object::namespace))
    }

    /// The object's name (or `generateName`), or else `request.name`.
    pub fn object_name(&self) -> Option<&'a str> {
        self.object.and_then(Object::name).or(self.name)
    }
}
