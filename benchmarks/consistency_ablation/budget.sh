# sourced: env for issue 11 runs
export GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=68719476736
export EXPODIFF_DATA=/work/shared/data
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
ITERS=${ITERS:-1000}
BUDGET="train.iterations=$ITERS train.lr=1e-3 train.seed=0 data.batch_size=4 data.patch_size=128 data.train_sets=[CBSD68,McMaster] data.val_sets=[] data.num_workers=1 train.num_threads=1 train.val_every=0 train.checkpoint_every=250 train.log_every=50 train.tensorboard=false train.progress=false train.device=cpu"
# run the committed code (a snapshot made with git archive), not the shared, changing tree
SNAP=runs/issue11/snap
export PYTHONPATH=$SNAP/src
EXPODIFF=".venv/bin/python -m expodiff"
