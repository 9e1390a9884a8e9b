//! Simulated card (being written).
#![no_std]
