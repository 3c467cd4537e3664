"""Tokenizers, models and adapters: the one place the recipes build and check them."""

from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.common.logs import get_logger

logger = get_logger(__name__)


def load_tokenizer(model_name_or_path: str, padding_side: str = "right", pad_token: str | None = None, allow_new=False):
    """The model's tokenizer with a pad token: its own, or `pad_token` (a new one only where `allow_new`)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, padding_side=padding_side)
    except (OSError, ValueError) as err:
        raise RecipeError(
            f"model_name_or_path {model_name_or_path!r}: could not load a tokenizer ({_first_line(err)}). "
            "Give a local folder saved with save_pretrained or a hub id (the hub needs network access)."
        ) from None
    if pad_token and pad_token != tokenizer.pad_token:
        if pad_token in tokenizer.get_vocab():
            tokenizer.pad_token = pad_token
        elif allow_new:
            tokenizer.add_special_tokens({"pad_token": pad_token})
            logger.info(f"pad_token {pad_token!r} added to the tokenizer (id {tokenizer.pad_token_id}).")
        else:
            raise RecipeError(
                f"pad_token {pad_token!r} is not in the vocabulary of {model_name_or_path!r}. Only the SFT stage adds "
                "a new pad token (and grows the embeddings); later stages inherit it from the SFT model."
            )
    if tokenizer.pad_token is None:
        raise RecipeError(
            f"the tokenizer of {model_name_or_path!r} has no pad token. Set `pad_token` in the SFT stage's YAML: "
            "a new token such as '<|pad|>' (the embeddings grow by one row) or an unused token of its vocabulary "
            "(Pythia: '<|padding|>'). It must differ from the eos token, which PPO reads as the end of a response."
        )
    return tokenizer


def grown_vocabulary(model_path: str, tokenizer) -> bool:
    """Whether the tokenizer has more tokens than the model has embeddings (a pad token was added)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_path)
    vocab_size = getattr(config, "vocab_size", None) or getattr(config.get_text_config(), "vocab_size", None)
    return vocab_size is not None and len(tokenizer) > vocab_size


CAUSAL_ALTERNATIVE = (
    "recipes/emotion-gpt2/ runs the classifier-reward PPO of the flan-t5 tutorials (a text classifier's label as "
    "the reward, `reward_classifier_label`) on GPT-2, and recipes/tutorial-gpt2/ runs SFT, reward model and PPO on "
    "your own files."
)


def encoder_decoder(path: str) -> str | None:
    """What the model at `path` is, when it is an encoder-decoder (T5, BART...); None for any other model."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError):  # the loaders that follow say what is wrong with the path
        return None
    if not config.is_encoder_decoder:
        return None
    architecture = (config.architectures or [type(config).__name__])[0]
    return f"{architecture} (model_type {config.model_type}, an encoder-decoder)"


def causal_problems(path: str, field: str, stage: str, reward_model: bool = False) -> list[str]:
    """Why the `stage` stage cannot take the model at `path` (named by `field`): it is an encoder-decoder.

    Every policy stage takes a causal LM; PPO, RLOO and GRPO (`reward_model`) a causal reward model too.
    """
    found = encoder_decoder(path)
    if found is None:
        return []
    stage = stage.upper()
    if reward_model:
        why = (
            f"The {stage} stage scores responses with a causal reward model (a decoder-only sequence classifier, as "
            "the reward stage trains from a causal SFT model); an encoder-decoder classifier fails on them once "
            "training starts: it reads neither the policy's token ids as PPO passes them nor a response cut at the "
            "length limit, which lacks the end token it needs. It still serves `rlhf-recipes score` and the report. "
            "Train the reward model from a causal LM, or score with a text classifier by one label:"
        )
    else:
        why = (
            f"TRL trains causal LMs (decoder-only, such as GPT-2, Llama, Qwen or Pythia) in the {stage} stage: its "
            "trainer feeds prompt and response to the model as one sequence of token ids, where an encoder-decoder "
            "takes them apart (the prompt to its encoder, the response to its decoder). Start from a causal "
            "LM:"
        )
    return [f"{field} {path!r} is a {found}. {why} {CAUSAL_ALTERNATIVE}"]


def fit_embeddings(model, tokenizer) -> None:
    """Grow the embeddings (and a tied LM head) to the tokenizer's size; new rows start at the mean embedding."""
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def describe_quantization(model_args) -> str:
    if model_args.load_in_4bit:
        nested = ", double quantization" if model_args.use_bnb_nested_quant else ""
        return f"4-bit {model_args.bnb_4bit_quant_type} base (QLoRA{nested})"
    return "8-bit base" if model_args.load_in_8bit else "full-precision base"


def add_value_adapter(value_model, model_args):
    """A quantized value model trains a LoRA adapter (the LoRA settings of `model_args`) and its score head."""
    from peft import get_peft_model
    from trl import get_peft_config

    config = get_peft_config(model_args)
    config.task_type = "SEQ_CLS"  # keeps the `score` head trainable (modules_to_save)
    return get_peft_model(value_model, config)


def model_init_kwargs(model_args) -> dict:
    """How a trainer loads the model from its path (as TRL's own scripts set it)."""
    return dict(
        revision=model_args.model_revision, attn_implementation=model_args.attn_implementation, dtype=model_args.dtype
    )


def keep_trainable_in_fp32(model) -> None:
    """Trainable weights in fp32, for QLoRA without mixed precision (CPU).

    TRL casts QLoRA's trainable weights to bf16, relying on mixed-precision autocast; without it the
    bf16 score head cannot read fp32 hidden states.
    """
    for param in model.parameters():
        if param.requires_grad:
            param.data = param.data.float()
