#!/usr/bin/python3
"""Bad options at every command: runs each invocation below against small runs it makes itself,
and writes what each gets (exit status, the message) into docs/reliability.md between the
bad-options markers. Every message must name the option or file; the script fails when an
invocation exits 0, crashes (a signal, or status other than 1 or 2), or gives no message.

    /usr/bin/python3 bench/bad_options.py
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kill_soak import write_fake_mnist, write_pairs  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORGERY = os.path.join(ROOT, "build", "forgery")
DOC = os.path.join(ROOT, "docs", "reliability.md")


def main():
    work = tempfile.mkdtemp(prefix="bad-options-")
    mnist, pairs = os.path.join(work, "mnist"), os.path.join(work, "pairs")
    write_fake_mnist(mnist, 128, 32)
    write_pairs(pairs)
    gan, p2p = os.path.join(work, "gan"), os.path.join(work, "p2p")
    tiny = ["--set", "progress=off", "--threads", "1"]
    subprocess.run([FORGERY, "train", "gan-mnist", "--data", mnist, "--out", gan, "--epochs", "1"] + tiny,
                   check=True, capture_output=True)
    subprocess.run([FORGERY, "train", "pix2pix-facades-128", "--data", pairs, "--out", p2p, "--epochs", "1",
                    "--set", "ngf=2", "--set", "ndf=2", "--set", "load_size=136"] + tiny, check=True, capture_output=True)
    with open(os.path.join(work, "notes.txt"), "w") as f:
        f.write("not an image\n")
    os.makedirs(os.path.join(work, "notes"))
    with open(os.path.join(work, "notes", "todo.txt"), "w") as f:
        f.write("a user's file\n")
    cases = [
        ("train gan-mnst", "a misspelt preset"),
        ("train gan-mnist --set batchsize=3", "a misspelt option"),
        ("train gan-mnist --set batch_size=0", "an option out of range"),
        ("train gan-mnist --set lr_g=fast", "an option of the wrong type"),
        ("train gan-mnist --set lr_g", "--set without a value"),
        ("train gan-mnist --epochs -3", "a negative epoch count"),
        ("train gan-mnist --device tpu", "an unknown device"),
        ("train gan-mnist --data /nonexistent/mnist", "a data folder that does not exist"),
        (f"train gan-mnist --data {mnist} --out {gan}", "a run folder that is not empty"),
        (f"train gan-mnist --data {mnist} --out {work}/notes --force", "--force over a folder that is not a run"),
        (f"train gan-mnist --data {gan}/samples --out {gan} --force", "--force over a run folder holding the data"),
        (f"train gan-mnist --data {mnist} --out {gan} --force --init-from {p2p}/weights/G.pt",
         "--force with weights of another model (the run it was to replace is kept)"),
        (f"train gan-mnist --data {mnist} --init-from {work}/notes.txt", "--init-from a file that is not weights"),
        (f"train gan-mnist --data {mnist} --init-from G_B={gan}/weights/generator.pt", "--init-from a network the model lacks"),
        (f"train gan-mnist --data {mnist} --init-from {gan}/weights/generator.pt --init-from generator={gan}/weights/generator.pt",
         "--init-from the same network twice"),
        ("train gan-mnist --set loss=vanilla", "a loss of another family"),
        (f"train pix2pix-facades-128 --data {pairs} --set direction=AtoC", "a misspelt direction"),
        (f"train pix2pix-facades-128 --data {pairs} --set netG=unet_512", "an unknown generator"),
        (f"train pix2pix-facades-128 --data {pairs} --set crop_size=200", "a crop larger than the load size"),
        (f"train cyclegan-horse2zebra-128 --data {pairs}", "CycleGAN data without trainA/ and trainB/"),
        ("train gan-mnist --set precision=fp16", "an unknown precision"),
        (f"train dcgan-folder --data {work}/notes --set eval_every=1", "eval_every on folder data, no feature network"),
        (f"train gan-mnist --data {mnist} --set eval_every=1 --set eval_features={work}/none.pt",
         "a missing eval_features network"),
        ("train gan-mnist --set seed=4294967296", "a seed beyond the random generator's 32 bits"),
        (f"train gan-mnist --data {mnist} --set nz=2000000000", "networks too large for any memory"),
        (f"train gan-mnist --data {mnist} --out {work}/diverged --set lr_g=1e30 --set lr_d=1e30",
         "learning rates that make the training diverge"),
        (f"train pix2pix-facades-128 --data {work}/nowhere", "a pix2pix data folder that does not exist"),
        (f"train gan-mnist --data {mnist} --nproc 3", "a batch that does not split into equal shares"),
        ("train gan-mnist --nproc 0", "--nproc 0"),
        ("train gan-mnist --dist-init tcp://h:1", "an unknown rendezvous method"),
        ("train gan-mnist --set dist_timeout=0", "a timeout of zero"),
        ("train gan-mnist --set dist_backend=mpi", "an unknown data-parallel backend"),
        (f"train gan-mnist --data {mnist} --device cpu --nproc 2 --set dist_backend=nccl", "NCCL for a CPU run"),
        (f"train gan-mnist --data {mnist} --dist-init file:{work}/rdzv", "--dist-init without RANK and WORLD_SIZE"),
        (f"train gan-mnist --data {mnist} --device cpu --set cuda_graphs=on", "CUDA graphs asked for on the CPU"),
        ("train gan-mnist --set memory_format=nhwc", "an unknown memory format"),
        ("train gan-mnist --set ema_kimg=-10", "a negative half-life for the moving average"),
        ("train gan-mnist --set ema_rampup=0.05", "a ramp-up without a moving average"),
        ("train dcgan-mnist --set ema_kimg=10 --set ema_batchnorm=average", "an unknown choice for the average's BatchNorm statistics"),
        (f"train {work}/missing.toml", "a config file that does not exist"),
        ("resume /nonexistent/run", "resume of a folder that does not exist"),
        (f"resume {mnist}", "resume of a folder with no checkpoint"),
        (f"resume {gan} --threads -1", "a negative thread count"),
        (f"resume {gan} --set seed=3", "resume changing what the run computes"),
        (f"resume {gan} --set sed=3", "resume with an unknown option"),
        (f"resume {gan} --set n_epochs=300", "resume lengthening a constant schedule"),
        (f"sample {gan}", "sample without an output"),
        (f"sample {gan} --out {work}/g.png --n 0", "sample --n 0"),
        (f"sample {gan} --out {work}/g.jpg", "sample --out not a PNG name"),
        (f"sample {gan} --out {work}/g.png --label 3", "a class label for an unconditional model"),
        (f"sample {gan} --out {work}/g.png --seed -1", "a negative seed"),
        (f"sample {p2p} --out {work}/g.png", "sample of an image-to-image run"),
        (f"translate {gan} --input {pairs}/val --out {work}/t", "translate of a noise-to-image run"),
        (f"translate {p2p} --input {work}/notes.txt --out {work}/t", "translate of a file that is not an image"),
        (f"translate {p2p} --input {pairs}/val --out {work}/t --direction AtoB", "the direction the run was not trained for"),
        (f"translate {p2p} --input {pairs}/val --out {pairs}/val", "translate into its own input folder"),
        (f"translate {p2p}/weights/G.pt --input {pairs}/val --out {work}/t", "a bare state_dict without --preset"),
        (f"translate {p2p}/weights/G.pt --preset pix2pix-facades --input {pairs}/val --out {work}/t",
         "a state_dict of another architecture"),
        (f"eval {gan} --metrics fid,sharpness", "an unknown metric"),
        (f"eval {gan} --device gpu0", "an unknown eval device"),
        (f"eval --real {mnist}/t10k-images-idx3-ubyte.gz", "--real without --fake"),
        (f"eval --real {mnist}/t10k-images-idx3-ubyte.gz --fake {mnist}/t10k-images-idx3-ubyte.gz --n 100",
         "--n with two image sets (nothing is generated)"),
        (f"eval {gan} --out {work}/notes", "a report name that is a folder (refused before measuring)"),
        (f"eval --real {mnist}/t10k-images-idx3-ubyte.gz --fake {mnist}/t10k-images-idx3-ubyte.gz "
         f"--features {ROOT}/tests/fixtures/ts_raises.pt", "a feature network whose script raises"),
        (f"eval --real {work}/notes.txt --fake {work}/notes.txt --classifier {work}/notes.txt", "image sets that are not images"),
        (f"export {gan} --format onnx", "an unknown export format"),
        (f"export {work}/notes.txt", "export of a file that is not a checkpoint"),
        (f"report {mnist}", "report of a folder that is not a run"),
        ("data download cifar", "an unknown dataset"),
        (f"data combine {pairs}/train {work}/nowhere {work}/c", "combine with a missing folder"),
        (f"data combine {pairs}/train {pairs}/val {pairs}/train", "combine into one of its inputs"),
        ("train", "train without a preset"),
        ("train gan-mnist --out ''", "an empty value (an unset shell variable)"),
    ]
    # With the published MNIST beside the project (../shared/datasets): its files taken for
    # Fashion-MNIST's (same names and format).
    shared_mnist = os.path.join(os.path.dirname(ROOT), "shared", "datasets", "mnist")
    if os.path.exists(os.path.join(shared_mnist, "train-labels-idx1-ubyte.gz")):
        cases.append((f"train gan-mnist --set dataset=fashion-mnist --data {shared_mnist}",
                      "MNIST's published files as Fashion-MNIST"))
    cases += [
        ("frobnicate", "an unknown command"),
    ]
    rows, failures = [], []
    for args, what in cases:
        p = subprocess.run(f"cd {work} && {FORGERY} {args}", shell=True, capture_output=True, text=True, timeout=300)
        msg = (p.stderr.strip() or p.stdout.strip()).splitlines()
        first = msg[0] if msg else ""
        if p.returncode not in (1, 2) or not first:
            failures.append(f"{args}: status {p.returncode}, message {first!r}")
        shown = first.replace(work, "W").replace(ROOT, ".").replace(os.path.dirname(ROOT), "..").replace("|", "\\|")
        shown = re.sub(r"^forgery: error: ", "", shown)
        rows.append(f"| {what} | `{args.replace(work, 'W').replace(ROOT, '.').replace(os.path.dirname(ROOT), '..')}` | {p.returncode} | {shown} |")
    table = ("| what | command (W: a scratch folder) | exit | message (first line) |\n|---|---|---|---|\n" +
             "\n".join(rows) + "\n")
    with open(DOC) as f:
        doc = f.read()
    begin, end = "<!-- bad-options:begin -->\n", "<!-- bad-options:end -->"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin) + len(begin)] + table + doc[doc.index(end):]
        with open(DOC, "w") as f:
            f.write(doc)
    print(table)
    for f in failures:
        print("FAILED: " + f)
    subprocess.run(["rm", "-rf", work])
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
