//! Kernel layer (Windows targets only).
