//! NXP TDA8029 ALPAR (placeholder).
