// The one file for a <script> tag: defines <feedback-thumbs> and exposes the client as window.FeedbackLoop.
export * from './widget';
