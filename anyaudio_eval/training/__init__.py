"""Training the judge: SFT, hard-sample mining and GRPO (the paper's recipe), with a CPU smoke path.

Modules (heavy imports such as torch, transformers and trl stay inside them):

- `data`      corpus format and loader (also bench-format rows), the generate-mode training target,
              a generated tiny corpus for tests and smoke runs;
- `config`    the stages' settings: TRL's and transformers' own configs plus ours, parsed from YAML and flags;
- `modeling`  load a policy from a checkpoint (or a tiny random model), LoRA, export in the layout the
              local `audiollm/` provider and vLLM load;
- `collate`   prompt encoding shared with the local provider, the SFT collator;
- `rewards`   the paper's reward terms as plain functions;
- `sft`, `mining`, `grpo`  the three stages; `vllm_bridge` audio rollouts and weight-name mapping for vLLM;
- `cli`       `anyaudio train sft|mine|grpo|demo-corpus`.
"""
