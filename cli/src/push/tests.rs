//! Reading push batches: what a client may send, and every refusal with its field.
