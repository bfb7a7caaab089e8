"""Train lesson 09's β-TCVAEs and ship them: one small checkpoint and one record per β and seed in data/checkpoints/.

    python scripts/train_tcvae.py --seeds 0 1 2 --threads 2   # β = 6, three seeds, as shipped
    python scripts/train_tcvae.py --betas 6 --steps 500        # a quick look

Everything but the loss is lesson 06's sweep (``scripts/train_beta_sweep.py``): the same conv VAE, fresh
random sprites, batch, learning rate and number of steps, MIG logged during training, float16 weights,
and the same record (command, seed, date, device, settings, training time without the time spent
measuring MIG, steps per second, load average, final metrics, the weights' checksum), plus the KL's
three terms on 5,000 sprites. The loss is β-TCVAE's (Chen et al. 2018, ``vaecourse.tc.beta_tcvae_loss``):
the total correlation weighs β, the index-code MI and the dimension-wise KL weigh 1. Checkpoints are
``tcvae_{R}px_beta{β}_seed{s}.pt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from train_beta_sweep import make_parser, print_mig_over_time, train_one  # noqa: E402

from vaecourse import tc, train  # noqa: E402


def main() -> None:
    args = make_parser(__doc__.split("\n\n")[0], [tc.TCVAE_BETA]).parse_args()
    device = train.script_device(args)
    histories = {(beta, seed): train_one(beta, seed, args, device, loss_fn=tc.beta_tcvae_loss(beta),
                                         path=tc.checkpoint_path(beta, args.resolution, Path(args.out), seed=seed),
                                         evaluate=tc.evaluate)[1]
                 for beta in args.betas for seed in args.seeds}
    print_mig_over_time(histories)


if __name__ == "__main__":
    main()
