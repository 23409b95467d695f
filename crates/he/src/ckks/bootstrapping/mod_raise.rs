//! ModRaise (CHKKS18b §3.1): a level-0 ciphertext `(c_0, c_1)` modulo `q_0` is read as
//! integers (centred representatives) and reduced modulo the whole chain `Q_L`. Its phase
//! becomes `c_0 + c_1·s = m + q_0·I(X)` modulo `Q_L`, with `I` a small integer polynomial
//! (`‖I‖_∞ <= (1 + h)/2` for a secret of Hamming weight `h`; in practice `O(√h)`).

use crate::ckks::{Ciphertext, CkksParameters};
use crate::rlwe;
use crate::HeError;
use henn_ring::{Form, RnsPoly};

/// Raises a level-0 ciphertext to level `level` (see the module docs). The scale label is
/// kept.
///
/// # Errors
/// [`HeError::LevelTooLow`] unless `ct` is at level 0 with two polynomials;
/// [`HeError::InvalidLevel`] for a level above the chain.
pub fn mod_raise(
    params: &CkksParameters,
    ct: &Ciphertext,
    level: usize,
) -> Result<Ciphertext, HeError> {
    if ct.level() != 0 || ct.len() != 2 {
        return Err(HeError::LevelTooLow {
            operation: "ModRaise (needs a level-0, relinearized ciphertext)",
            needed: 0,
            level: ct.level(),
        });
    }
    params.check_level(level)?;
    let basis = params.rlwe().q_basis();
    let q0 = *basis.modulus(0);
    let polys = ct
        .rlwe()
        .polys()
        .iter()
        .map(|p| {
            let mut limb = p.limb(0).to_vec();
            basis.ntt(0).backward(&mut limb);
            let signed: Vec<i64> = limb.iter().map(|&x| q0.center(x)).collect();
            let mut raised = RnsPoly::from_signed(basis, level + 1, &signed);
            raised.set_form(Form::Coefficient);
            raised.ntt_forward(basis);
            raised
        })
        .collect();
    let inner = rlwe::Ciphertext::from_polys(params.rlwe(), polys, level)?;
    Ciphertext::from_rlwe(inner, ct.scale())
}
