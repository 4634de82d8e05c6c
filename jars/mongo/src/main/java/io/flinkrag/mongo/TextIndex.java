package io.flinkrag.mongo;

import de.bwaldvogel.mongo.bson.Document;
import java.io.Closeable;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.standard.StandardAnalyzer;
import org.apache.lucene.document.DoublePoint;
import org.apache.lucene.document.Field;
import org.apache.lucene.document.StringField;
import org.apache.lucene.document.TextField;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.Term;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.Query;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.SearcherManager;
import org.apache.lucene.store.ByteBuffersDirectory;
import org.apache.lucene.util.BytesRef;

/**
 * One Atlas Search index on Lucene's standard analyzer and BM25 (Lucene's default similarity, as
 * in Atlas Search). It lives in memory and is rebuilt from the collection at start: full-text
 * indexes of a stand-in's collections are small next to their vectors.
 */
final class TextIndex implements Closeable {
  private static final String ID = "_id";
  static final Analyzer ANALYZER = new StandardAnalyzer();

  final String id;
  final String name;
  final String database;
  final String collection;
  volatile TextIndexDefinition definition;
  volatile int version;
  volatile java.time.Instant createdAt = java.time.Instant.now();
  volatile String status = SearchIndex.PENDING;

  private final ByteBuffersDirectory store = new ByteBuffersDirectory();
  private final IndexWriter writer;
  private final SearcherManager searchers;

  TextIndex(String id, String name, String database, String collection, TextIndexDefinition definition) {
    this.id = id;
    this.name = name;
    this.database = database;
    this.collection = collection;
    this.definition = definition;
    try {
      writer = new IndexWriter(store, new IndexWriterConfig(ANALYZER));
      searchers = new SearcherManager(writer, true, false, null);
    } catch (IOException err) {
      throw new UncheckedIOException(err);
    }
  }

  /** Indexes every document of the collection afresh (a new definition, or a start). */
  void rebuild(Iterable<Document> documents) throws IOException {
    status = SearchIndex.BUILDING;
    writer.deleteAll();
    for (Document doc : documents) {
      upsert(doc);
    }
    writer.commit();
    searchers.maybeRefreshBlocking();
    status = SearchIndex.READY;
  }

  void upsert(Document doc) throws IOException {
    BytesRef key = LuceneVectors.key(doc.get(ID));
    org.apache.lucene.document.Document entry = new org.apache.lucene.document.Document();
    entry.add(new StringField(ID, key, Field.Store.YES));
    addFields(entry, "", doc);
    writer.updateDocument(new Term(ID, key), entry);
  }

  void delete(Object docId) throws IOException {
    writer.deleteDocuments(new Term(ID, LuceneVectors.key(docId)));
  }

  private void addFields(org.apache.lucene.document.Document entry, String prefix, Document doc) {
    for (Map.Entry<String, Object> field : doc.entrySet()) {
      if (prefix.isEmpty() && ID.equals(field.getKey())) {
        continue;
      }
      addValue(entry, prefix + field.getKey(), field.getValue());
    }
  }

  private void addValue(org.apache.lucene.document.Document entry, String path, Object value) {
    if (value instanceof Document) {
      addFields(entry, path + ".", (Document) value);
      return;
    }
    if (value instanceof List) {
      for (Object element : (List<?>) value) {
        addValue(entry, path, element);
      }
      return;
    }
    for (String type : definition.typesOf(path, value)) {
      if ("string".equals(type) && value instanceof String) {
        entry.add(new TextField("s:" + path, (String) value, Field.Store.NO));
      } else if ("token".equals(type) && value instanceof String) {
        entry.add(new StringField("t:" + path, (String) value, Field.Store.NO));
      } else if ("number".equals(type) && value instanceof Number) {
        entry.add(new DoublePoint("n:" + path, ((Number) value).doubleValue()));
      } else if ("boolean".equals(type) && value instanceof Boolean) {
        entry.add(new StringField("b:" + path, value.toString(), Field.Store.NO));
      }
    }
  }

  /** The best `limit` matches of the query, best first, with their BM25 scores. */
  List<LuceneVectors.Hit> search(Query query, int limit) throws IOException {
    searchers.maybeRefreshBlocking(); // writes are indexed in the write's own command: read them
    IndexSearcher searcher = searchers.acquire();
    try {
      int n = Math.max(1, Math.min(limit, searcher.getIndexReader().maxDoc()));
      List<LuceneVectors.Hit> hits = new ArrayList<>();
      for (ScoreDoc scoreDoc : searcher.search(query, n).scoreDocs) {
        BytesRef key = searcher.storedFields().document(scoreDoc.doc).getBinaryValue(ID);
        hits.add(new LuceneVectors.Hit(LuceneVectors.decodeKey(key), scoreDoc.score));
      }
      return hits;
    } finally {
      searchers.release(searcher);
    }
  }

  Document describe() {
    return new Document("id", id)
        .append("name", name)
        .append("type", "search")
        .append("status", status)
        .append("queryable", SearchIndex.READY.equals(status))
        .append("latestDefinitionVersion", new Document("version", version).append("createdAt", createdAt))
        .append("latestDefinition", definition.source);
  }

  Document persisted() {
    return new Document("id", id)
        .append("name", name)
        .append("database", database)
        .append("collection", collection)
        .append("version", version)
        .append("definition", definition.source);
  }

  @Override
  public void close() throws IOException {
    searchers.close();
    writer.close();
    store.close();
  }
}
