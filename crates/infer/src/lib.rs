//! Encrypted inference the LoLa way: a slot-vector backend trait, message representations and
//! matrix-vector kernels, the planner that picks them, and the executor.
