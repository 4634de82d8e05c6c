package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What the backend hands to the full-text side: {@code createSearchIndexes} batches that mix
 * {@code search} and {@code vectorSearch} entries, and pipelines that start with {@code $search}
 * or {@code $rankFusion}. Kept out of {@link SearchBackend} so that the vector path reads alone.
 */
final class FullTextSearch {
  /** The backend's aggregation of later stages, with the {$meta: ...} they may read. */
  interface LaterStagesRunner {
    List<Document> run(List<Document> docs, List<Document> stages, Map<String, String> metas);
  }

  private final SearchIndexes indexes;
  private final TextIndexes texts;

  FullTextSearch(SearchIndexes indexes, TextIndexes texts) {
    this.indexes = indexes;
    this.texts = texts;
  }

  /** Every entry checked before anything is created, so a bad batch creates none (as on Atlas). */
  List<Document> create(String database, String collection, List<?> specs) {
    List<Object> vectorSpecs = new ArrayList<>();
    List<TextIndex> textIndexes = new ArrayList<>();
    Set<String> names = new HashSet<>();
    for (Object spec : specs) {
      if (spec instanceof Document) {
        String name = String.valueOf(((Document) spec).getOrDefault("name", "default"));
        if (!names.add(name) || texts.named(database, collection, name) != null
            || indexes.find(database, collection, name) != null) {
          throw TextIndexes.duplicate(name);
        }
      }
      if (spec instanceof Document && TextIndexes.isText((Document) spec)) {
        textIndexes.add(texts.prepare(database, collection, (Document) spec));
      } else {
        vectorSpecs.add(spec);
      }
    }
    List<Document> created = new ArrayList<>();
    if (!vectorSpecs.isEmpty()) {
      created.addAll(indexes.create(database, collection, vectorSpecs));
    }
    ReentrantLock lock = indexes.lock(database, collection);
    lock.lock();
    try {
      texts.add(textIndexes);
    } finally {
      lock.unlock();
    }
    for (TextIndex index : textIndexes) {
      created.add(new Document("id", index.id).append("name", index.name));
    }
    return created;
  }

  /** The first stage's documents of a pipeline that starts with $search or $rankFusion. */
  List<Document> firstStage(String database, String collection, List<Document> pipeline,
                            StoredDocuments source, LaterStagesRunner later) {
    Document first = pipeline.get(0);
    if (first.containsKey("$search")) {
      int limit = pipeline.size() > 1 && pipeline.get(1).get("$limit") instanceof Number
          ? Math.max(1, ((Number) pipeline.get(1).get("$limit")).intValue()) : Integer.MAX_VALUE;
      return TextSearchStage.run(first.get("$search"), texts, database, collection, source, limit);
    }
    Object spec = first.get("$rankFusion");
    if (spec instanceof Document && !Boolean.TRUE.equals(((Document) spec).get("scoreDetails"))
        && RankFusionStage.readsMeta(pipeline.subList(1, pipeline.size()), "scoreDetails")) {
      throw RankFusionStage.error("{$meta: \"scoreDetails\"} needs \"scoreDetails\": true in the stage");
    }
    return RankFusionStage.run(spec, new RankFusionStage.Runner() {
      @Override
      public List<Document> search(Document stage, int limit) {
        if (stage.containsKey("$search")) {
          return TextSearchStage.run(stage.get("$search"), texts, database, collection, source, limit);
        }
        Object vector = stage.get("$vectorSearch");
        if (!(vector instanceof Document)) {
          throw VectorSearchStage.error("the stage's argument must be a document");
        }
        List<Document> hits = VectorSearchStage.run((Document) vector, indexes, database, collection, source);
        hits.forEach(doc -> doc.put(TextSearchStage.SCORE, doc.get(VectorSearchStage.SCORE_FIELD)));
        return hits;
      }

      @Override
      public List<Document> all() {
        return source == null ? List.of() : source.streamAll().map(Document::new).toList();
      }

      @Override
      public List<Document> later(List<Document> docs, List<Document> stages) {
        // Every input's score is in the hidden score field (search() puts it there).
        Map<String, String> metas = new HashMap<>(LaterStages.AFTER_SEARCH);
        metas.put("vectorSearchScore", VectorSearchStage.SCORE_FIELD);
        return later.run(docs, stages, metas);
      }
    });
  }

  /** The {$meta: ...} the later stages of a pipeline with this first stage may read. */
  static Map<String, String> metasAfter(Document first) {
    if (first.containsKey("$vectorSearch")) {
      return LaterStages.AFTER_VECTOR;
    }
    if (first.containsKey("$search")) {
      return LaterStages.AFTER_SEARCH;
    }
    return first.containsKey("$rankFusion") ? LaterStages.AFTER_FUSION : Map.of();
  }
}
